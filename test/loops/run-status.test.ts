import { describe, expect, test } from "bun:test";
import { configSchema } from "../../src/config/schema.ts";
import type { ControllerContext } from "../../src/loops/context.ts";
import { createReaper, ORPHAN_EVERY } from "../../src/loops/reaper.ts";
import { applyRunStatus, checkRunSource } from "../../src/loops/run-status.ts";
import { metrics } from "../../src/metrics.ts";
import type { KillReport, RunStatus } from "../../src/protocol/messages.ts";
import type { Transport } from "../../src/remote/transport.ts";
import { claimRun, finishRun, getRun, markRunning } from "../../src/store/runs.ts";
import { addNode, addTask, memoryStore } from "../helpers/store.ts";

/** Five-line fake of a node: lists what is pushed into `listed`, records kills and answers as told. */
function fakeNode(node: string, answer: KillReport) {
  const killed: string[] = [];
  const listed: RunStatus[] = [];
  const t = {
    node,
    list: async () => listed,
    kill: async (id: string) => {
      killed.push(id);
      return answer;
    },
  } as unknown as Transport; // only list and kill are used by the reaper's sweep
  return { t, killed, listed };
}

function setup(transports: Transport[] = []) {
  const store = memoryStore();
  addNode(store, "n1");
  addNode(store, "n2");
  const ctx: ControllerContext = {
    store,
    config: configSchema.parse({ nodes: [{ name: "n1", transport: "local" }] }),
    transports: new Map(transports.map((t) => [t.node, t])),
    now: () => 5_000,
    notify: () => {},
    launching: new Set(),
    wakeScheduler: () => {},
  };
  return { store, ctx };
}

function launch(ctx: ControllerContext, task: string, node: string): string {
  addTask(ctx.store, { id: task });
  const c = ctx.store.tx((db) => claimRun(db, task, node, null, 2_000));
  if (!c.ok) throw new Error(c.reason);
  return c.run.run_id;
}

const status = (run_id: string, task_id: string, state: RunStatus["state"]): RunStatus => ({
  run_id,
  task_id,
  pid: 4242,
  wrapper_pid: 4241,
  state,
  started_at: 3_000,
  heartbeat_at: 4_000,
  finished_at: state === "running" ? null : 4_500,
  exit_code: state === "running" ? null : 0,
  wrapper_version: "test",
});

const rejected = (reason: string) => metrics.runStatusRejected.values.get(`reason=${reason}`)?.value ?? 0;

describe("checkRunSource", () => {
  test("only the run's own node, about the task it was given, may speak for it", () => {
    const run = { node: "n1", task_id: "t" };
    expect(checkRunSource(run, "n1", { task_id: "t" })).toBeNull();
    expect(checkRunSource(run, "n2", { task_id: "t" })).toBe("wrong_node");
    expect(checkRunSource(run, "n1", { task_id: "other" })).toBe("task_mismatch");
    expect(checkRunSource(null, "n1", { task_id: "t" })).toBe("unknown_run");
  });
});

describe("applyRunStatus", () => {
  test("an end reported by another node is rejected and counted; the run's own node is believed", () => {
    const { ctx } = setup();
    const id = launch(ctx, "t1", "n1");
    const before = rejected("wrong_node");
    expect(applyRunStatus(ctx, "n2", status(id, "t1", "succeeded"))).toBe("rejected");
    expect(rejected("wrong_node")).toBe(before + 1);
    expect(ctx.store.tx((db) => getRun(db, id))!.state).toBe("launching");
    const mismatch = rejected("task_mismatch");
    expect(applyRunStatus(ctx, "n1", status(id, "t9", "succeeded"))).toBe("rejected");
    expect(rejected("task_mismatch")).toBe(mismatch + 1);
    expect(applyRunStatus(ctx, "n1", status("never-issued", "t1", "succeeded"))).toBe("rejected");
    expect(applyRunStatus(ctx, "n1", status(id, "t1", "succeeded"))).toBe("finished");
    expect(ctx.store.tx((db) => getRun(db, id))!.state).toBe("succeeded");
  });
});

describe("the reaper's orphan sweep", () => {
  function overRun(ctx: ControllerContext, task: string, node: string): string {
    const id = launch(ctx, task, node);
    ctx.store.tx((db) => {
      markRunning(db, id, { pid: 1, started_at: 3_000, heartbeat_at: 3_000 }, 3_000);
      finishRun(db, id, { state: "succeeded", exit_code: 0 }, { backoffMs: 1, maxBackoffMs: 1 }, 4_000);
    });
    return id;
  }
  const orphanEvents = (ctx: ControllerContext) =>
    (
      ctx.store.db.query("SELECT run_id FROM events WHERE kind = 'orphan_killed'").all() as {
        run_id: string;
      }[]
    ).map((r) => r.run_id);

  test("records orphan_killed only when the node says a signal was sent", async () => {
    const quiet = fakeNode("n1", { signalled: false, note: "could not write the kill marker (EACCES)" });
    const { ctx } = setup([quiet.t]);
    const id = overRun(ctx, "t1", "n1");
    quiet.listed.push(status(id, "t1", "running"));
    await createReaper(ctx, { probeNodes: async () => {} }).tick(ORPHAN_EVERY);
    expect(quiet.killed).toEqual([id]);
    expect(orphanEvents(ctx)).toEqual([]);

    const loud = fakeNode("n1", { signalled: true });
    const second = setup([loud.t]);
    const id2 = overRun(second.ctx, "t1", "n1");
    loud.listed.push(status(id2, "t1", "running"));
    await createReaper(second.ctx, { probeNodes: async () => {} }).tick(ORPHAN_EVERY);
    expect(orphanEvents(second.ctx)).toEqual([id2]);
  });

  test("a run listed by a node it was not launched on is never killed there", async () => {
    const n2 = fakeNode("n2", { signalled: true });
    const { ctx } = setup([n2.t]);
    const id = overRun(ctx, "t1", "n1");
    n2.listed.push(status(id, "t1", "running"));
    await createReaper(ctx, { probeNodes: async () => {} }).tick(ORPHAN_EVERY);
    expect(n2.killed).toEqual([]);
    expect(orphanEvents(ctx)).toEqual([]);
  });
});

describe("the reaper's timeout clock", () => {
  test("a run whose wrapper stopped reporting elapsed time still times out on the controller's monotonic clock", async () => {
    const node = fakeNode("n1", { signalled: true });
    const { ctx } = setup([node.t]);
    addTask(ctx.store, { id: "frozen" });
    const c = ctx.store.tx((db) => claimRun(db, "frozen", "n1", 50, 2_000));
    if (!c.ok) throw new Error(c.reason);
    const id = c.run.run_id;
    // A frozen wrapper: its status says 0 ms forever; the wall clocks say nothing useful.
    node.listed.push({ ...status(id, "frozen", "running"), elapsed_ms: 0 });
    const reaper = createReaper(ctx, { probeNodes: async () => {} });
    await reaper.tick(2);
    expect(ctx.store.tx((db) => getRun(db, id))!.state).toBe("running");
    await Bun.sleep(80); // the 50 ms timeout passes on this process's monotonic clock
    await reaper.tick(3);
    expect(ctx.store.tx((db) => getRun(db, id))).toMatchObject({ state: "failed", reason: "timeout" });
    expect(node.killed).toEqual([id]);
  });
});
