import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { OYSTER_BIN, oyster, spawnController, tempDir, waitFor } from "../helpers/cli.ts";
import { stopController, waitNodesOnline, writeConfig } from "../helpers/controller.ts";
import { type SshNode, startSshNode } from "../helpers/sshd.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * What a node says is believed only as far as it should be, against two real OpenSSH nodes
 * (127.0.0.21–22) and the built binary: a status forged on one node for another node's run is
 * ignored and counted; run files are private even under umask 000; timeouts are measured on one clock, so a controller whose wall clock is 5 h
 * ahead (OYSTER_TEST_CLOCK_OFFSET) kills nothing early and still fires a real timeout.
 * Every task appends its run id to its own ledger, so "ran exactly once" is read from there.
 */
const dir = tempDir("oyster-e2e-trust-");
const nodes: SshNode[] = [];
let controller: Subprocess | null = null;
const helpers: Subprocess[] = [];
const FIVE_HOURS_MS = 5 * 3_600_000;

const { q, count } = storeReader(join(dir.path, "o.db"));
const ledger = (task: string) => join(dir.path, `ledger-${task}`);
const ledgerLines = (task: string) =>
  existsSync(ledger(task)) ? readFileSync(ledger(task), "utf8").trim().split("\n").filter(Boolean) : [];
/** The node's OYSTER_HOME: a directory oyster itself creates on first use. */
const homeOf = (n: SshNode) => join(n.dir, "fresh", "oyster-home");
const runDirOn = (n: SshNode, runId: string) => join(homeOf(n), "runs", runId);

function submit(id: string, fm: Record<string, unknown>) {
  const d = join(dir.path, "specs", id);
  mkdirSync(d, { recursive: true });
  const lines = Object.entries({ task_id: id, ...fm }).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  writeFileSync(join(d, `${id}.md`), `---\n${lines.join("\n")}\n---\nbody\n`);
  const r = oyster(["submit", d], { cwd: dir.path });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
}
/** A shell command that records this execution in the task's ledger first. */
const logged = (task: string, rest: string) => `echo "$OYSTER_RUN_ID" >> '${ledger(task)}'; ${rest}`;

async function scrape(): Promise<string> {
  const url = q<{ value: string }>("SELECT value FROM settings WHERE key = 'http_url'")[0]!.value;
  return (await fetch(`${url}/metrics`)).text();
}
function sample(text: string, name: string, labels: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}
const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

function runOf(task: string) {
  return q<{ run_id: string; node: string; state: string; reason: string | null }>(
    "SELECT run_id, node, state, reason FROM runs WHERE task_id = ? ORDER BY attempt",
    task,
  );
}

beforeAll(async () => {
  // Both nodes start everything (agent, wrapper, executor) under umask 000: oyster's own files
  // must still come out private.
  const loose = join(dir.path, "oyster-umask-000");
  writeFileSync(loose, `#!/bin/sh\numask 000\nexec ${JSON.stringify(OYSTER_BIN)} "$@"\n`);
  chmodSync(loose, 0o755);
  for (const [address, name] of [
    ["127.0.0.21", "t1"],
    ["127.0.0.22", "t2"],
  ] as const)
    nodes.push(await startSshNode({ address, name, binary: loose, env: { OYSTER_HEARTBEAT_MS: "200" } }));
  writeConfig(dir.path, [
    "loops:",
    "  scheduler: { interval: 100ms }",
    "  probe: { interval: 1h }",
    "  reaper: { interval: 300ms }",
    "  guardian: { interval: 1h }",
    "  factory: { interval: 1h }",
    "ssh: { connect_timeout: 2s, command_timeout: 3s }",
    "retry: { backoff: 100ms, auto_revive: 0 }",
    "nodes:",
    ...nodes.map((n) => `  - ${JSON.stringify(n.nodeConfig({ slots: 2, oyster_home: homeOf(n) }))}`),
  ]);
  controller = spawnController(dir.path, { OYSTER_TEST_CLOCK_OFFSET: String(FIVE_HOURS_MS) });
  await waitNodesOnline(dir.path, ["t1", "t2"]);
});

afterAll(async () => {
  for (const h of helpers) h.kill("SIGKILL");
  await stopController(controller);
  for (const n of nodes) await n.destroy();
  dir.cleanup();
});

describe("a run's end is believed only from its own node", () => {
  test("a status.json forged on another node is ignored and counted; the real run finishes once, unkilled", async () => {
    submit("victim", { command: logged("victim", "sleep 4") });
    const run = await waitFor("victim running", () => runOf("victim").find((r) => r.state === "running"));
    const own = nodes.find((n) => n.name === run.node)!;
    const other = nodes.find((n) => n.name !== run.node)!;

    // What a task on the other node can do: plant a live-looking status for the victim's run id
    // in its own OYSTER_HOME (a live wrapper pid, so its node lists it as running and watches it).
    const decoy = Bun.spawn(["sleep", "60"]);
    helpers.push(decoy);
    const forged = runDirOn(other, run.run_id);
    mkdirSync(forged, { recursive: true });
    const forge = (state: string) => {
      const now = Date.now();
      const s = {
        run_id: run.run_id,
        task_id: "victim",
        pid: null,
        wrapper_pid: decoy.pid,
        state,
        started_at: now,
        heartbeat_at: now,
        finished_at: state === "running" ? null : now,
        exit_code: state === "running" ? null : 0,
        wrapper_version: "forged",
      };
      writeFileSync(join(forged, "status.tmp"), JSON.stringify(s));
      renameSync(join(forged, "status.tmp"), join(forged, "status.json"));
    };
    forge("running");
    // Two full `list` sweeps of the other node after the plant: its agent now watches the run.
    const listsOf = async () =>
      sample(await scrape(), "oyster_ssh_command_duration_seconds_count", `node="${other.name}",op="list"`);
    const before = await listsOf();
    await waitFor("the other node listed twice", async () => (await listsOf()) >= before + 2);
    forge("succeeded");

    await waitFor("the forged end counted as rejected", async () => {
      const m = await scrape();
      return sample(m, "oyster_run_status_rejected_total", 'reason="wrong_node"') >= 1;
    });
    // Rejected, so the task is still running on its own node.
    expect(runOf("victim").map((r) => r.state)).toEqual(["running"]);

    await waitFor(
      "victim succeeded",
      () => count("SELECT COUNT(*) AS n FROM tasks WHERE task_id = 'victim' AND status = 'succeeded'") === 1,
      { timeoutMs: 20_000 },
    );
    expect(runOf("victim")).toEqual([
      { run_id: run.run_id, node: own.name, state: "succeeded", reason: null },
    ]);
    const real = JSON.parse(readFileSync(join(runDirOn(own, run.run_id), "status.json"), "utf8"));
    expect(real).toMatchObject({ state: "succeeded", exit_code: 0 });
    expect(count("SELECT COUNT(*) AS n FROM events WHERE kind = 'orphan_killed'")).toBe(0);
    expect(ledgerLines("victim")).toEqual([run.run_id]);
  });
});

describe("files on the nodes are private", () => {
  test("under umask 000 the home, runs/, the run dir are 0700 and spec, request, status, output 0600", async () => {
    submit("modes", { command: logged("modes", "echo secret-output; touch made-by-task") });
    await waitFor(
      "modes succeeded",
      () => count("SELECT COUNT(*) AS n FROM tasks WHERE task_id = 'modes' AND status = 'succeeded'") === 1,
      { timeoutMs: 20_000 },
    );
    const run = runOf("modes")[0]!;
    const node = nodes.find((n) => n.name === run.node)!;
    const rd = runDirOn(node, run.run_id);
    // The executor really ran under umask 000: what it creates is world-writable.
    expect(mode(join(rd, "made-by-task"))).toBe("666");
    expect({
      fresh: mode(join(node.dir, "fresh")),
      home: mode(homeOf(node)),
      runs: mode(join(homeOf(node), "runs")),
      run: mode(rd),
      spec: mode(join(rd, "spec.md")),
      request: mode(join(rd, "request.json")),
      status: mode(join(rd, "status.json")),
      output: mode(join(rd, "output.log")),
    }).toEqual({
      fresh: "700",
      home: "700",
      runs: "700",
      run: "700",
      spec: "600",
      request: "600",
      status: "600",
      output: "600",
    });
    expect(readFileSync(join(rd, "output.log"), "utf8")).toBe("secret-output\n");
    expect(ledgerLines("modes")).toEqual([run.run_id]);
  });
});

describe("durations on one clock", () => {
  test("with the controller's clock 5 h ahead, a 3 s task with a 20 s timeout succeeds once", async () => {
    submit("jump", { command: logged("jump", "sleep 3"), timeout: "20s" });
    const ACTIVE = ["launching", "dispatched", "running"];
    await waitFor("jump's first run over", () => runOf("jump").some((r) => !ACTIVE.includes(r.state)), {
      timeoutMs: 20_000,
    });
    expect(runOf("jump").map((r) => [r.state, r.reason])).toEqual([["succeeded", null]]);
    expect(count("SELECT COUNT(*) AS n FROM events WHERE kind = 'run_timeout'")).toBe(0);
    expect(ledgerLines("jump")).toHaveLength(1);
  });

  test("a real timeout still fires, measured as the run's own elapsed time", async () => {
    submit("slow", { command: logged("slow", "sleep 30"), timeout: "2s", max_attempts: 1 });
    await waitFor(
      "slow dead",
      () => count("SELECT COUNT(*) AS n FROM tasks WHERE task_id = 'slow' AND status = 'dead'") === 1,
      { timeoutMs: 20_000 },
    );
    expect(runOf("slow").map((r) => [r.state, r.reason])).toEqual([["failed", "timeout"]]);
    const ev = q<{ data: string }>("SELECT data FROM events WHERE kind = 'run_timeout' AND task_id = 'slow'");
    expect(ev).toHaveLength(1);
    const { elapsed_ms, timeout_ms } = JSON.parse(ev[0]!.data);
    expect(timeout_ms).toBe(2_000);
    expect(elapsed_ms).toBeGreaterThan(2_000);
    expect(elapsed_ms).toBeLessThan(10_000);
    expect(ledgerLines("slow")).toHaveLength(1);
  });
});
