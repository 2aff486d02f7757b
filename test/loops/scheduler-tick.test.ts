import { describe, expect, test } from "bun:test";
import { createScheduler } from "../../src/loops/scheduler.ts";
import type { StartRequest } from "../../src/protocol/messages.ts";
import { type Transport, TransportError } from "../../src/remote/transport.ts";
import { setNodeOnline } from "../../src/store/nodes.ts";
import { addNode, addTask, taskStatus } from "../helpers/store.ts";
import { eventKinds, fakeTransport, loopWorld, runStatus } from "./fakes.ts";

/** A node whose `start` answers with `answer(request, call)` and records every request. */
function node(name: string, answer: (req: StartRequest, call: number) => Promise<void> = async () => {}) {
  const starts: StartRequest[] = [];
  const t: Transport = fakeTransport(name, {
    start: async (req) => {
      starts.push(req);
      await answer(req, starts.length);
      return runStatus(req.run_id, req.task_id, "running", { started_at: 10_000, heartbeat_at: 10_000 });
    },
  });
  return { t, starts };
}

function world(nodes: Transport[]) {
  const w = loopWorld(nodes, { ssh: { command_timeout: "1s" } });
  for (const t of nodes) addNode(w.store, t.node);
  return { ...w, scheduler: createScheduler(w.ctx) };
}

/** Poll `cond` (the launches run after the tick returns) until it holds or 2 s pass. */
async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 2_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met within 2 s");
    await new Promise((r) => setTimeout(r, 2));
  }
}

const runs = (w: ReturnType<typeof world>) =>
  w.store.db.query("SELECT run_id, state, reason FROM runs ORDER BY created_at").all() as {
    run_id: string;
    state: string;
    reason: string | null;
  }[];
const dispatches = (w: ReturnType<typeof world>) =>
  w.store.db.query("SELECT kind, success, reason FROM dispatch_events ORDER BY id").all();

describe("scheduler tick", () => {
  test("a ready task is launched on a free node: run running, task_dispatched, launching cleared", async () => {
    const n = node("n1");
    const w = world([n.t]);
    addTask(w.store, { id: "t" });
    await w.scheduler.tick(1);
    await w.scheduler.stop();
    expect(n.starts.map((r) => r.task_id)).toEqual(["t"]);
    expect(n.starts[0]?.env?.OYSTER_TASK_ID).toBe("t");
    expect(runs(w).map((r) => r.state)).toEqual(["running"]);
    expect(taskStatus(w.store, "t")).toMatchObject({ status: "running", attempts: 1 });
    expect(eventKinds(w.store)).toContain("task_dispatched");
    expect(w.ctx.launching.size).toBe(0);
  });

  test("nothing ready: no launch, no refusal", async () => {
    const n = node("n1");
    const w = world([n.t]);
    await w.scheduler.tick(1);
    expect(n.starts).toEqual([]);
    expect(dispatches(w)).toEqual([]);
  });

  test("no node can take it: the refusal is recorded with its reason, nothing starts", async () => {
    const n = node("n1");
    const w = world([n.t]);
    w.store.tx((db) => setNodeOnline(db, "n1", false, "test: down", 1_000));
    addTask(w.store, { id: "t" });
    await w.scheduler.tick(1);
    await w.scheduler.stop();
    expect(n.starts).toEqual([]);
    expect(dispatches(w)).toEqual([{ kind: "refusal", success: 0, reason: "pool_exhausted" }]);
    expect(taskStatus(w.store, "t").status).toBe("pending");
  });

  test("a start whose answer was lost is sent again with the same run id, and the run is running", async () => {
    const n = node("n1", async (_req, call) => {
      if (call === 1) throw new TransportError("channel dropped", "closed");
    });
    const w = world([n.t]);
    addTask(w.store, { id: "t" });
    await w.scheduler.tick(1);
    await until(() => runs(w)[0]?.state === "running");
    expect(n.starts.length).toBe(2);
    expect(n.starts[1]!.run_id).toBe(n.starts[0]!.run_id);
    expect(runs(w).length).toBe(1);
  });

  test("a start answered by no one before the deadline leaves the run launching (lease held)", async () => {
    const w0: { w?: ReturnType<typeof world> } = {};
    const n = node("n1", async () => {
      w0.w!.clock.t += 1_500; // each try eats more than a command_timeout of the launch's deadline
      throw new TransportError("no reply", "timeout");
    });
    const w = world([n.t]);
    w0.w = w;
    addTask(w.store, { id: "t" });
    await w.scheduler.tick(1);
    await until(() => eventKinds(w.store, "scheduler").length > 0);
    expect(eventKinds(w.store, "scheduler")).toEqual(["launch_unresolved"]);
    expect(runs(w).map((r) => r.state)).toEqual(["launching"]);
    expect(w.store.db.query("SELECT COUNT(*) AS n FROM leases").get()).toEqual({ n: 1 });
    await w.scheduler.stop();
  });

  test("a start that cannot have reached the node requeues the task without an attempt (node_failed)", async () => {
    const n = node("n1", async () => {
      throw new TransportError("connection refused", "connect");
    });
    const w = world([n.t]);
    addTask(w.store, { id: "t" });
    await w.scheduler.tick(1);
    await w.scheduler.stop();
    expect(n.starts.length).toBe(1);
    expect(runs(w).map((r) => r.reason)).toEqual(["node_failed"]);
    expect(taskStatus(w.store, "t")).toMatchObject({ status: "pending", attempts: 0 });
    expect(eventKinds(w.store, "scheduler")).toEqual(["launch_failed"]);
  });

  test("a stopped scheduler launches nothing; stop twice is safe", async () => {
    const n = node("n1");
    const w = world([n.t]);
    addTask(w.store, { id: "t" });
    await w.scheduler.stop();
    await w.scheduler.stop();
    await w.scheduler.tick(1);
    expect(n.starts).toEqual([]);
  });
});
