/**
 * Suite-wide guards, preloaded by bunfig.toml for every `bun test` run:
 *
 * 1. A decoy controller on the default port 127.0.0.1:8090 (when that port is free). It answers
 *    like an oyster controller of a store nobody owns, and the suite fails if any test reached
 *    it: every test must talk only to the controller it started itself.
 * 2. A leak check: `npm test` starts `bun test` with a marker in its environment, which every
 *    process the tests start inherits; when the suite ends, any process still carrying it fails
 *    the run, named with its command line. (Setting the marker here would not do: Bun.spawn
 *    passes the environment the runner started with, not later changes to process.env.)
 *    Processes that sshd starts for a test node get sshd's own environment and are not seen.
 */
import { afterAll } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { alive, selfAndAncestors } from "./helpers/procs.ts";

const DEFAULT_PORT = 8090;
/** How long the leak check waits for processes a test is still stopping (afterAll of the last file). */
const LEAK_GRACE_MS = 10_000;
/** Not an OYSTER_* name: the CLI helpers strip those from the environment they pass on. */
const MARK_VAR = "TEST_LEAK_MARK_SUITE";
const mark = process.env[MARK_VAR];

const decoyHits: string[] = [];
let decoy: ReturnType<typeof Bun.serve> | undefined;
try {
  decoy = Bun.serve({
    hostname: "127.0.0.1",
    port: DEFAULT_PORT,
    fetch(req) {
      decoyHits.push(`${req.method} ${new URL(req.url).pathname}`);
      // Shaped like a healthy controller so a test that wrongly trusts it would pass by accident
      // if only the status code were checked; the hit list is what fails the suite.
      return Response.json({ status: "healthy", service: "oyster-decoy", store_id: "decoy-store" });
    },
  });
} catch {
  // Taken (a developer's own controller, or another suite running at the same time): the
  // isolation check then relies on that service; the leak check still runs.
  decoy = undefined;
}

function markedProcesses(): string[] {
  const found: string[] = [];
  if (!mark) return found;
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  } catch {
    return found; // not Linux: no /proc to read
  }
  const needle = `${MARK_VAR}=${mark}`;
  // The runner's own ancestors (npm, sh) may carry the marker too; they are not leaks.
  const mine = selfAndAncestors();
  for (const pid of pids) {
    if (mine.has(Number(pid))) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`, "latin1");
      if (!env.split("\0").includes(needle)) continue;
      if (!alive(Number(pid))) continue; // a zombie holds no resources and waits for its reaper
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").join(" ").trim();
      found.push(`${pid}: ${cmd}`);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

afterAll(async () => {
  decoy?.stop(true);
  const deadline = Date.now() + LEAK_GRACE_MS;
  let left = markedProcesses();
  while (left.length > 0 && Date.now() < deadline) {
    await Bun.sleep(100);
    left = markedProcesses();
  }
  const problems: string[] = [];
  if (decoyHits.length > 0)
    problems.push(
      `tests reached a controller they did not start (127.0.0.1:${DEFAULT_PORT}): ${decoyHits.slice(0, 10).join(", ")}`,
    );
  if (left.length > 0)
    problems.push(`processes started by the tests are still running:\n  ${left.join("\n  ")}`);
  if (problems.length > 0) throw new Error(problems.join("\n"));
}, LEAK_GRACE_MS + 5_000);
