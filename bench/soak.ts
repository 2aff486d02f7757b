#!/usr/bin/env bun
/**
 * Soak (issue 4): every loop at 1 s on 3 sshd nodes with a steady stream of short tasks while
 * `oyster submit`, `oyster status`, `oyster tasks` and `oyster tasks retry` run in a loop beside
 * it. Targets: zero lock errors anywhere, zero lost or duplicated tasks, and no process but the
 * controller holding the store open for long.
 *   bun bench/soak.ts [--seconds 600]
 * Needs /usr/sbin/sshd (openssh-server) and the built binary (`bun scripts/build-binary.ts`).
 */
import { runSoak } from "./soak-run.ts";

const i = process.argv.indexOf("--seconds");
const seconds = i >= 0 ? Number(process.argv[i + 1]) : 600;
const r = await runSoak({ seconds, log: (l) => console.error(l) });
const rows: [string, string | number, string][] = [
  ["duration", `${r.seconds} s`, ""],
  ["tasks submitted", r.submitted, ""],
  ["tasks succeeded", r.succeeded, ""],
  ["tasks dead (deliberate failures not retried yet)", r.dead, ""],
  ["tasks not final after wind-down (lost)", r.unfinished, "target 0"],
  ["runs", r.runs, ""],
  ["duplicated runs/tasks", r.duplicated, "target 0"],
  ["runs lost", r.lostRuns, "target 0"],
  ["database is locked / SQLITE_BUSY (all processes)", r.lockErrors, "target 0"],
  ["other long-lived store holders", r.longLivedHolders, "target 0"],
  ...Object.entries(r.clients).map(
    ([k, v]) =>
      [`oyster ${k}: calls / failures`, `${v.calls} / ${v.failures}`, v.lastError] as [
        string,
        string,
        string,
      ],
  ),
];
const w = Math.max(...rows.map((x) => x[0].length));
console.log(`${"figure".padEnd(w)}  value`);
for (const [k, v, note] of rows) console.log(`${k.padEnd(w)}  ${String(v)}${note ? `  (${note})` : ""}`);
if (r.controllerErrors.length) console.log(`controller errors:\n${r.controllerErrors.join("\n")}`);
