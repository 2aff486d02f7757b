import { describe, expect, test } from "bun:test";
import { readyTasks } from "../../src/store/dispatch.ts";
import {
  activeRuns,
  activeRunsOnOfflineNodes,
  claimRun,
  finishRun,
  getRun,
  markRunning,
  requeueDueFailures,
} from "../../src/store/runs.ts";
import { addNode, addTask, memoryStore, taskStatus } from "../helpers/store.ts";

const policy = { backoffMs: 1_000, maxBackoffMs: 10_000 };

function started(store: ReturnType<typeof memoryStore>, id: string, now = 2_000) {
  const c = store.tx((db) => claimRun(db, id, "n1", null, now));
  if (!c.ok) throw new Error(c.reason);
  store.tx((db) => markRunning(db, c.run.run_id, { pid: 1, started_at: now, heartbeat_at: now }, now));
  return c.run.run_id;
}

describe("runs and the task lifecycle", () => {
  test("a claim takes the lease and the file locks; a second claim of the task is refused", () => {
    const s = memoryStore();
    addNode(s, "n1");
    addTask(s, { id: "a", paths: ["x.py"] });
    addTask(s, { id: "b", paths: ["x.py"] });
    const first = s.tx((db) => claimRun(db, "a", "n1", null, 2_000));
    expect(first.ok).toBe(true);
    expect(s.tx((db) => claimRun(db, "a", "n1", null, 2_000))).toEqual({
      ok: false,
      reason: "already_running",
    });
    expect(s.tx((db) => claimRun(db, "b", "n1", null, 2_000))).toEqual({ ok: false, reason: "files_locked" });
    expect(taskStatus(s, "a").status).toBe("dispatched");
  });

  test("the claim compares modifies as paths: another spelling, or a directory over a file, is locked", () => {
    const s = memoryStore();
    addNode(s, "n1");
    // Stored as written (tasks from before paths were normalised at intake).
    addTask(s, { id: "a", paths: ["./src/a.ts"] });
    addTask(s, { id: "b", paths: ["src//a.ts"] });
    addTask(s, { id: "c", paths: ["src/"] });
    addTask(s, { id: "d", paths: ["src2/a.ts"] });
    expect(s.tx((db) => claimRun(db, "a", "n1", null, 2_000)).ok).toBe(true);
    expect(s.tx((db) => claimRun(db, "b", "n1", null, 2_000))).toEqual({ ok: false, reason: "files_locked" });
    expect(s.tx((db) => claimRun(db, "c", "n1", null, 2_000))).toEqual({ ok: false, reason: "files_locked" });
    expect(s.tx((db) => claimRun(db, "d", "n1", null, 2_000)).ok).toBe(true);
  });

  test("a run's end moves its task exactly once, even when reported twice", () => {
    const s = memoryStore();
    addNode(s, "n1");
    addTask(s, { id: "a", paths: ["x.py"] });
    const run = started(s, "a");
    const end = { state: "succeeded" as const, exit_code: 0 };
    expect(s.tx((db) => finishRun(db, run, end, policy, 3_000))).toEqual({
      task_id: "a",
      task_status: "succeeded",
    });
    expect(s.tx((db) => finishRun(db, run, end, policy, 3_001))).toBeNull();
    expect(taskStatus(s, "a")).toMatchObject({ status: "succeeded", attempts: 1 });
    expect(s.db.query("SELECT COUNT(*) AS n FROM file_locks").get()).toEqual({ n: 0 });
    expect(s.db.query("SELECT COUNT(*) AS n FROM leases").get()).toEqual({ n: 0 });
    expect(s.db.query("SELECT COUNT(*) AS n FROM events WHERE kind = 'run_succeeded'").get()).toEqual({
      n: 1,
    });
  });

  test("a failure backs off, then requeues; past max_attempts the task is dead", () => {
    const s = memoryStore();
    addNode(s, "n1");
    addTask(s, { id: "a", max_attempts: 2 });
    const r1 = started(s, "a");
    s.tx((db) => finishRun(db, r1, { state: "failed", exit_code: 1 }, policy, 3_000));
    expect(taskStatus(s, "a")).toMatchObject({ status: "failed", not_before: 4_000 });
    expect(s.tx((db) => requeueDueFailures(db, 3_999))).toBe(0);
    expect(s.tx((db) => requeueDueFailures(db, 4_000))).toBe(1);
    const r2 = started(s, "a", 5_000);
    s.tx((db) => finishRun(db, r2, { state: "failed", exit_code: 1 }, policy, 6_000));
    expect(taskStatus(s, "a")).toMatchObject({ status: "dead", attempts: 2 });
  });

  test("a failed launch requeues without spending an attempt; a lost run goes back to pending", () => {
    const s = memoryStore();
    addNode(s, "n1");
    addTask(s, { id: "a" });
    const c = s.tx((db) => claimRun(db, "a", "n1", null, 2_000));
    if (!c.ok) throw new Error("claim");
    s.tx((db) =>
      finishRun(
        db,
        c.run.run_id,
        { state: "failed", reason: "executor_failed", launchFailed: true },
        policy,
        2_100,
      ),
    );
    expect(taskStatus(s, "a")).toMatchObject({ status: "pending", attempts: 0 });
    const r = started(s, "a", 3_000);
    s.tx((db) => finishRun(db, r, { state: "lost" }, policy, 4_000));
    expect(taskStatus(s, "a")).toMatchObject({ status: "pending", attempts: 1 });
    expect(activeRuns(s.db)).toEqual([]);
  });

  test("the executor's pid is recorded when the node first reports it, after a start that answered `starting`", () => {
    const s = memoryStore();
    addNode(s, "n1");
    addTask(s, { id: "a" });
    const c = s.tx((db) => claimRun(db, "a", "n1", null, 2_000));
    if (!c.ok) throw new Error(c.reason);
    const id = c.run.run_id;
    s.tx((db) => markRunning(db, id, { pid: null, started_at: 2_000, heartbeat_at: 2_000 }, 2_000));
    expect(s.tx((db) => getRun(db, id))?.pid).toBeNull();
    s.tx((db) => markRunning(db, id, { pid: 4242, started_at: 2_000, heartbeat_at: 2_500 }, 2_500));
    s.tx((db) => markRunning(db, id, { pid: 9999, started_at: 2_000, heartbeat_at: 3_000 }, 3_000));
    expect(s.tx((db) => getRun(db, id))).toMatchObject({ pid: 4242, heartbeat_at: 3_000 });
    expect(taskStatus(s, "a").attempts).toBe(1);
  });

  test("a launch left unresolved keeps its lease and locks; runs on offline nodes are listed for the dead-node policy", () => {
    const s = memoryStore();
    addNode(s, "n1");
    addTask(s, { id: "a", paths: ["x.py"] });
    addTask(s, { id: "b", paths: ["x.py"] });
    const c = s.tx((db) => claimRun(db, "a", "n1", null, 2_000));
    if (!c.ok) throw new Error(c.reason);
    // No finishRun: the run stays `launching`, so the path stays locked and the task leased.
    expect(s.tx((db) => claimRun(db, "b", "n1", null, 2_100))).toEqual({ ok: false, reason: "files_locked" });
    expect(s.tx((db) => claimRun(db, "a", "n1", null, 2_100))).toEqual({
      ok: false,
      reason: "already_running",
    });
    expect(s.tx((db) => activeRunsOnOfflineNodes(db))).toEqual([]);
    s.db.query("UPDATE nodes SET online = 0, last_seen_at = 1500 WHERE name = 'n1'").run();
    expect(s.tx((db) => activeRunsOnOfflineNodes(db))).toEqual([
      { run_id: c.run.run_id, task_id: "a", node: "n1", created_at: 2_000, last_seen_at: 1_500 },
    ]);
  });

  test("the ready set holds tasks whose dependencies all succeeded, in priority order", () => {
    const s = memoryStore();
    addTask(s, { id: "low", priority: 9 });
    addTask(s, { id: "urgent", priority: 0 });
    addTask(s, { id: "child", deps: ["low"] });
    addTask(s, { id: "orphan", deps: ["missing"] });
    expect(readyTasks(s.db, 5_000, 10).map((t) => t.task_id)).toEqual(["urgent", "low"]);
    s.db.query("UPDATE tasks SET status = 'succeeded' WHERE task_id = 'low'").run();
    expect(readyTasks(s.db, 5_000, 10).map((t) => t.task_id)).toEqual(["urgent", "child"]);
  });
});
