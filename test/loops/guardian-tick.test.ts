import { describe, expect, test } from "bun:test";
import { createGuardian } from "../../src/loops/guardian.ts";
import type { Transport } from "../../src/remote/transport.ts";
import { claimRun, finishRun, markRunning } from "../../src/store/runs.ts";
import { VERSION_STRING } from "../../src/version.ts";
import { addNode, addTask, taskStatus } from "../helpers/store.ts";
import { eventKinds, fakeTransport, loopWorld } from "./fakes.ts";

const HOUR = 3_600_000;

function world(nodes: Transport[] = [], config: Record<string, unknown> = {}) {
  const w = loopWorld(nodes, config);
  addNode(w.store, "n1");
  return { ...w, guardian: createGuardian(w.ctx) };
}

/**
 * A run of a new task `id` on n1, launched at `startedAt` on the controller's clock; the node
 * reports its own `nodeStartedAt` (its clock may differ).
 */
function running(
  w: ReturnType<typeof world>,
  id: string,
  startedAt: number,
  maxAttempts = 3,
  nodeStartedAt = startedAt,
): string {
  addTask(w.store, { id, max_attempts: maxAttempts });
  const c = w.store.tx((db) => claimRun(db, id, "n1", null, startedAt));
  if (!c.ok) throw new Error(c.reason);
  w.store.tx((db) =>
    markRunning(
      db,
      c.run.run_id,
      { pid: 1, started_at: nodeStartedAt, heartbeat_at: nodeStartedAt },
      startedAt,
    ),
  );
  return c.run.run_id;
}

describe("guardian tick", () => {
  test("a run longer than timeouts.long_running is alerted once: one event, one webhook", async () => {
    const w = world();
    w.clock.t = 10 * HOUR;
    const id = running(w, "t", 5 * HOUR);
    await w.guardian.tick(2);
    expect(w.notified).toEqual([
      { kind: "run_long_running", run_id: id, task_id: "t", node: "n1", started_at: 5 * HOUR },
    ]);
    w.clock.t += HOUR;
    await w.guardian.tick(3);
    expect(w.notified.length).toBe(1);
    expect(eventKinds(w.store, "guardian")).toEqual(["run_long_running"]);
  });

  test("a run under long_running is not alerted", async () => {
    const w = world();
    w.clock.t = 10 * HOUR;
    running(w, "t", 9 * HOUR);
    await w.guardian.tick(2);
    expect(w.notified).toEqual([]);
  });

  test("a node clock hours off neither alerts early nor never: the alert counts on the controller's clock", async () => {
    const w = world();
    w.clock.t = 10 * HOUR;
    running(w, "behind", 9 * HOUR, 3, 1 * HOUR); // 1 h old, its node's clock 8 h behind
    const ahead = running(w, "ahead", 5 * HOUR, 3, 12 * HOUR); // 5 h old, its node 7 h ahead
    await w.guardian.tick(2);
    expect(w.notified.map((n) => n.run_id)).toEqual([ahead]);
  });

  test("a task whose dependency is dead is blocked, and unblocked when the dependency is retried", async () => {
    const w = world();
    addTask(w.store, { id: "a", status: "dead" });
    addTask(w.store, { id: "b", deps: ["a"] });
    addTask(w.store, { id: "c", deps: ["b"] });
    await w.guardian.tick(2);
    expect(taskStatus(w.store, "b").status).toBe("blocked");
    expect(taskStatus(w.store, "c").status).toBe("blocked"); // the whole chain at once
    w.store.db.query("UPDATE tasks SET status = 'pending' WHERE task_id = 'a'").run();
    const wakes = w.wakes.n;
    await w.guardian.tick(3);
    expect(taskStatus(w.store, "b").status).toBe("pending");
    expect(taskStatus(w.store, "c").status).toBe("pending");
    expect(w.wakes.n).toBe(wakes + 1);
  });

  test("a dependency nobody submitted is reported once", async () => {
    const w = world();
    addTask(w.store, { id: "b", deps: ["ghost"] });
    await w.guardian.tick(2);
    await w.guardian.tick(3);
    expect(eventKinds(w.store, "guardian")).toEqual(["dependency_missing"]);
  });

  test("auto_revive: a task dead of a recoverable failure gets one more attempt, once", async () => {
    const w = world();
    const id = running(w, "t", w.clock.t, 1);
    const retry = { backoffMs: 0, maxBackoffMs: 0 };
    w.store.tx((db) => finishRun(db, id, { state: "failed", reason: "timeout" }, retry, w.clock.t));
    expect(taskStatus(w.store, "t").status).toBe("dead");
    await w.guardian.tick(2);
    expect(taskStatus(w.store, "t").status).toBe("pending");
    expect(eventKinds(w.store, "guardian")).toEqual(["task_auto_retried"]);
    // Dies again the same way: retry.auto_revive (1) is spent.
    const c = w.store.tx((db) => claimRun(db, "t", "n1", null, w.clock.t));
    if (!c.ok) throw new Error(c.reason);
    const now = w.clock.t;
    w.store.tx((db) => markRunning(db, c.run.run_id, { pid: 1, started_at: now, heartbeat_at: now }, now));
    w.store.tx((db) => finishRun(db, c.run.run_id, { state: "failed", reason: "timeout" }, retry, w.clock.t));
    await w.guardian.tick(3);
    expect(taskStatus(w.store, "t").status).toBe("dead");
  });

  test("a task dead of exit_nonzero is not revived", async () => {
    const w = world();
    const id = running(w, "t", w.clock.t, 1);
    w.store.tx((db) =>
      finishRun(
        db,
        id,
        { state: "failed", reason: "exit_nonzero", exit_code: 1 },
        { backoffMs: 0, maxBackoffMs: 0 },
        w.clock.t,
      ),
    );
    await w.guardian.tick(2);
    expect(taskStatus(w.store, "t").status).toBe("dead");
  });

  test("version check on cycles 1, 11, …: a mismatch and a failed connection are events", async () => {
    let asked = 0;
    const old = fakeTransport("n1", {
      version: async () => {
        asked++;
        return "oyster 0.0.1-old";
      },
    });
    const down = fakeTransport("n2", { version: () => Promise.reject(new Error("connection refused")) });
    const w = world([old, down]);
    for (let cycle = 1; cycle <= 12; cycle++) await w.guardian.tick(cycle);
    expect(asked).toBe(2);
    expect(eventKinds(w.store, "guardian")).toEqual([
      "version_mismatch",
      "node_check_failed",
      "version_mismatch",
      "node_check_failed",
    ]);
  });

  test("a node on the controller's version records nothing", async () => {
    const w = world([fakeTransport("n1", { version: async () => VERSION_STRING })]);
    await w.guardian.tick(1);
    expect(eventKinds(w.store, "guardian")).toEqual([]);
  });
});
