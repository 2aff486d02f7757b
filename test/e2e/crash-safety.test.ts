import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { oyster, spawnController, tempDir, waitFor } from "../helpers/cli.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * kill -9 of `oyster run` at exact moments (OYSTER_TEST_CRASH=<point>:<n>), then a restart:
 * every task reaches a final state exactly once, every executor ran exactly once, and no lease,
 * lock or active run is left behind.
 */
const dir = tempDir("oyster-e2e-crash-");
const execLog = join(dir.path, "executions.log");
afterAll(() => {
  Bun.spawnSync(["pkill", "-KILL", "-f", join(dir.path, "node-home")]);
  dir.cleanup();
});

writeFileSync(
  join(dir.path, "oyster.yaml"),
  [
    "store: ./o.db",
    "http: { port: 0 }",
    "nodes: [{ name: local, transport: local, slots: 3, oyster_home: ./node-home }]",
    "loops: { scheduler: { interval: 50ms }, reaper: { interval: 200ms }, guardian: { interval: 1s } }",
    // The launch grace: a claimed run the node never saw is a ghost after this long.
    "ssh: { command_timeout: 1s }",
    "retry: { backoff: 50ms }",
    "",
  ].join("\n"),
);

const { q } = storeReader(join(dir.path, "o.db"));

function submitBatch(prefix: string, n: number): string[] {
  const d = join(dir.path, prefix);
  mkdirSync(d, { recursive: true });
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}`;
    ids.push(id);
    // Every third task shares a path, so locks are held while the controller dies.
    const modifies = i % 3 === 0 ? `modifies: ["shared/${prefix}.py"]\n` : "";
    writeFileSync(
      join(d, `${id}.md`),
      `---\ntask_id: ${id}\n${modifies}command: 'echo "$OYSTER_TASK_ID" >> ${JSON.stringify(execLog)}; sleep 0.3'\n---\nx\n`,
    );
  }
  const r = oyster(["submit", d], { cwd: dir.path });
  expect(r.code).toBe(0);
  return ids;
}

async function runUntilCrash(point: string): Promise<void> {
  const p = spawnController(dir.path, { OYSTER_TEST_CRASH: point });
  const exited = await Promise.race([p.exited.then(() => true), Bun.sleep(30_000).then(() => false)]);
  if (!exited) p.kill("SIGKILL");
  expect(exited).toBe(true);
  expect(p.signalCode).toBe("SIGKILL");
}

async function runUntilDone(ids: string[]): Promise<void> {
  const p = spawnController(dir.path, {}, ["--until-done"]);
  try {
    await waitFor(
      "every task final",
      () =>
        q<{ n: number }>(
          `SELECT COUNT(*) AS n FROM tasks WHERE task_id IN (${ids.map(() => "?").join(",")}) AND status = 'succeeded'`,
          ...ids,
        )[0]!.n === ids.length,
      { timeoutMs: 40_000, intervalMs: 100 },
    );
  } finally {
    p.kill("SIGTERM");
    await p.exited;
  }
}

function expectConsistent(ids: string[]): void {
  const executions = readFileSync(execLog, "utf8").trim().split("\n");
  for (const id of ids) {
    // Exactly one execution and exactly one succeeded run per task: nothing ran twice.
    expect({ id, runs: executions.filter((l) => l === id).length }).toEqual({ id, runs: 1 });
    expect(
      q<{ n: number }>("SELECT COUNT(*) AS n FROM runs WHERE task_id = ? AND state = 'succeeded'", id)[0]!.n,
    ).toBe(1);
  }
  expect(q("SELECT run_id FROM runs WHERE state IN ('launching','dispatched','running')")).toEqual([]);
  expect(q("SELECT task_id FROM leases")).toEqual([]);
  expect(q("SELECT path FROM file_locks")).toEqual([]);
  expect(q("SELECT name, running FROM nodes")).toEqual([{ name: "local", running: 0 }]);
}

describe("crash safety", () => {
  test("kill -9 after a launch was claimed, before the node was asked", async () => {
    const ids = submitBatch("claimed", 9);
    await runUntilCrash("launch-claimed:4");
    expect(
      q<{ n: number }>("SELECT COUNT(*) AS n FROM runs WHERE state = 'launching'")[0]!.n,
    ).toBeGreaterThan(0);
    await runUntilDone(ids);
    expectConsistent(ids);
  });

  test("kill -9 after the node started the run, before the store recorded it", async () => {
    const ids = submitBatch("started", 9);
    await runUntilCrash("launch-started:4");
    await runUntilDone(ids);
    expectConsistent(ids);
  });

  test("kill -9 in the middle of a reaper sweep", async () => {
    const ids = submitBatch("reaping", 9);
    await runUntilCrash("reap-listed:3");
    await runUntilDone(ids);
    expectConsistent(ids);
  });
});
