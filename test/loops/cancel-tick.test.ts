import { describe, expect, test } from "bun:test";
import { createCanceller } from "../../src/loops/cancel.ts";
import type { Transport } from "../../src/remote/transport.ts";
import { setNodeOnline } from "../../src/store/nodes.ts";
import { claimRun, markRunning } from "../../src/store/runs.ts";
import { addNode, addTask, taskStatus } from "../helpers/store.ts";
import { eventKinds, fakeTransport, loopWorld, runRow } from "./fakes.ts";

function world(kill: Transport["kill"]) {
  const killed: string[] = [];
  const t = fakeTransport("n1", {
    kill: (id) => {
      killed.push(id);
      return kill(id);
    },
  });
  const w = loopWorld([t]);
  addNode(w.store, "n1");
  addTask(w.store, { id: "t" });
  const c = w.store.tx((db) => claimRun(db, "t", "n1", null, w.clock.t));
  if (!c.ok) throw new Error(c.reason);
  const now = w.clock.t;
  w.store.tx((db) => markRunning(db, c.run.run_id, { pid: 1, started_at: now, heartbeat_at: now }, now));
  w.store.db.query("UPDATE tasks SET cancel_requested_at = ? WHERE task_id = 't'").run(now);
  return { ...w, canceller: createCanceller(w.ctx), killed, runId: c.run.run_id };
}

describe("cancel tick", () => {
  test("a requested cancel kills the run on its node, then records run and task cancelled", async () => {
    const w = world(async () => ({ signalled: true }));
    await w.canceller.tick();
    expect(w.killed).toEqual([w.runId]);
    expect(runRow(w.store, w.runId).state).toBe("cancelled");
    expect(taskStatus(w.store, "t").status).toBe("cancelled");
    expect(eventKinds(w.store, "controller")).toEqual(["cancel_kill_sent", "run_cancelled"]);
    expect(w.wakes.n).toBe(1);
  });

  test("a node that does not answer leaves the cancel pending, reported once", async () => {
    const w = world(() => Promise.reject(new Error("connection refused")));
    await w.canceller.tick();
    await w.canceller.tick();
    expect(w.killed).toEqual([w.runId, w.runId]); // asked again each tick
    expect(runRow(w.store, w.runId).state).toBe("running");
    expect(eventKinds(w.store, "controller")).toEqual(["cancel_kill_pending"]);
  });

  test("an offline node is not asked; the cancel waits for it", async () => {
    const w = world(async () => ({ signalled: true }));
    w.store.tx((db) => setNodeOnline(db, "n1", false, "test: down", w.clock.t));
    await w.canceller.tick();
    expect(w.killed).toEqual([]);
    expect(eventKinds(w.store, "controller")).toEqual(["cancel_kill_pending"]);
  });

  test("a run whose start is still in flight is left for the next tick", async () => {
    const w = world(async () => ({ signalled: true }));
    w.ctx.launching.add(w.runId);
    await w.canceller.tick();
    expect(w.killed).toEqual([]);
    w.ctx.launching.delete(w.runId);
    await w.canceller.tick();
    expect(runRow(w.store, w.runId).state).toBe("cancelled");
  });
});
