import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { OYSTER_BIN, oyster, spawnController, tempDir, waitFor } from "../helpers/cli.ts";
import { stopController, waitNodesOnline, writeConfig } from "../helpers/controller.ts";
import { type SshNode, startSshNode } from "../helpers/sshd.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * Issue 10.8 on the built binary: a real OpenSSH node without the agent (every call is a one-off
 * `oyster exec`, with a slow link for `list`) that already holds 2,500 finished runs. Its `exec list` used to be cut at 64 KiB
 * (about 500 runs), so the reaper could read nothing from it: ends went unrecorded and timeouts
 * unenforced. The reaper now asks only for what it needs, and output is complete anyway.
 */
const OLD_RUNS = 2_500;
const dir = tempDir("oyster-e2e-reaper-many-");
const ledger = join(dir.path, "ledger");
let node: SshNode;
let controller: Subprocess | null = null;
const { q, count } = storeReader(join(dir.path, "o.db"));

beforeAll(async () => {
  const shim = join(dir.path, "oyster-noagent");
  writeFileSync(
    shim,
    [
      "#!/bin/sh",
      `bin=${JSON.stringify(OYSTER_BIN)}`,
      'if [ "$1" = exec ] && [ "$2" = agent ]; then echo "unknown command agent" >&2; exit 2; fi',
      // A link slower than the node: what `list` prints waits in the pipe while the reader
      // catches up, as over a real network (loopback sshd drains it too fast to notice).
      'if [ "$1" = exec ] && [ "$2" = list ]; then "$bin" "$@" | { sleep 0.2; cat; }; exit 0; fi',
      'exec "$bin" "$@"',
      "",
    ].join("\n"),
  );
  chmodSync(shim, 0o755);
  node = await startSshNode({ address: "127.0.0.23", name: "many", binary: shim });
  for (let i = 0; i < OLD_RUNS; i++) {
    const id = `old-${String(i).padStart(5, "0")}`;
    mkdirSync(join(node.home, "runs", id), { recursive: true });
    const t = 1_700_000_000_000 + i;
    writeFileSync(
      join(node.home, "runs", id, "status.json"),
      JSON.stringify({
        run_id: id,
        task_id: `old-task-${i}`,
        pid: null,
        wrapper_pid: null,
        state: "succeeded",
        started_at: t,
        heartbeat_at: t,
        finished_at: t + 1_000,
        exit_code: 0,
        wrapper_version: "old",
      }),
    );
  }
  writeConfig(dir.path, [
    "loops:",
    "  scheduler: { interval: 100ms }",
    "  probe: { interval: 1h }",
    "  reaper: { interval: 300ms }",
    "ssh: { connect_timeout: 2s, command_timeout: 5s }",
    "retry: { backoff: 100ms, auto_revive: 0 }",
    "nodes:",
    `  - ${JSON.stringify(node.nodeConfig({ slots: 2 }))}`,
  ]);
  controller = spawnController(dir.path);
  await waitNodesOnline(dir.path, ["many"]);
}, 120_000);

afterAll(async () => {
  await stopController(controller);
  await node?.destroy();
  dir.cleanup();
});

const spec = (id: string, fm: Record<string, unknown>) =>
  `---\n${Object.entries({ task_id: id, ...fm })
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join("\n")}\n---\nbody\n`;

describe("the reaper with a node holding 2,500 runs, over one-off execs", () => {
  test("an end is recorded, a timeout is enforced, each task ran once, and the node stays online", async () => {
    const specs = join(dir.path, "batch");
    mkdirSync(specs);
    writeFileSync(join(specs, "quick.md"), spec("quick", { command: `echo quick >> ${ledger}` }));
    writeFileSync(
      join(specs, "slow.md"),
      spec("slow", { command: `echo slow >> ${ledger}; exec sleep 60`, timeout: "2s", max_attempts: 1 }),
    );
    const sub = oyster(["submit", specs], { cwd: dir.path });
    expect(sub.stderr).toBe("");
    expect(sub.code).toBe(0);
    // Without the agent nothing is pushed: only the reaper's `exec list` can record these ends.
    await waitFor(
      "quick succeeded and slow failed on its timeout",
      () => {
        const rows = q<{ task_id: string; status: string }>(
          "SELECT task_id, status FROM tasks ORDER BY task_id",
        );
        return rows.map((r) => `${r.task_id}=${r.status}`).join(" ") === "quick=succeeded slow=dead";
      },
      { timeoutMs: 30_000 },
    );
    const reasons = q<{ reason: string }>("SELECT reason FROM runs WHERE task_id = 'slow'");
    expect(reasons).toEqual([{ reason: "timeout" }]);
    const slowRun = q<{ run_id: string }>("SELECT run_id FROM runs WHERE task_id = 'slow'")[0]!.run_id;
    const status = JSON.parse(readFileSync(join(node.home, "runs", slowRun, "status.json"), "utf8")) as {
      pid: number;
    };
    await waitFor("the timed-out executor gone from the node", () => !existsSync(`/proc/${status.pid}`), {
      timeoutMs: 15_000,
    });
    expect(readFileSync(ledger, "utf8").trim().split("\n").sort()).toEqual(["quick", "slow"]);
    expect(count("SELECT COUNT(*) AS n FROM runs")).toBe(2);
    expect(count("SELECT COUNT(*) AS n FROM nodes WHERE online = 1")).toBe(1);
  }, 60_000);
});
