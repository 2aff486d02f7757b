import { describe, expect, test } from "bun:test";
import {
  type ActiveRun,
  findOrphans,
  type NodeRun,
  overdue,
  reconcileNode,
} from "../../src/dispatch/reconcile.ts";

const run = (id: string, over: Partial<ActiveRun> = {}): ActiveRun => ({
  run_id: id,
  task_id: `t-${id}`,
  state: "running",
  created_at: 1_000,
  started_at: 1_000,
  timeout_ms: 60_000,
  task_status: "running",
  ...over,
});
const onNode = (id: string, state: NodeRun["state"], started_at = 1_000): NodeRun => ({
  run_id: id,
  state,
  started_at,
});

describe("reconcileNode", () => {
  test("a run the node does not know is a ghost", () => {
    expect(reconcileNode([run("a")], [], 2_000)).toEqual([{ kind: "ghost", run_id: "a", task_id: "t-a" }]);
  });

  test("a run the node lists as running or finished is applied", () => {
    const acts = reconcileNode(
      [run("a"), run("b"), run("c")],
      [onNode("a", "running"), onNode("b", "succeeded"), onNode("c", "lost")],
      2_000,
    );
    expect(acts.map((a) => [a.kind, a.run_id])).toEqual([
      ["apply", "a"],
      ["apply", "b"],
      ["apply", "c"],
    ]);
  });

  test("a run still alive past its timeout is stuck; a finished one past it is just applied", () => {
    const acts = reconcileNode(
      [run("a", { timeout_ms: 500 }), run("b", { timeout_ms: 500 })],
      [onNode("a", "running"), onNode("b", "failed")],
      2_000,
    );
    expect(acts[0]).toEqual({
      kind: "stuck",
      run_id: "a",
      task_id: "t-a",
      elapsed_ms: 1_000,
      timeout_ms: 500,
    });
    expect(acts[1]).toEqual({ kind: "apply", run_id: "b" });
  });

  test("the node's start time wins over the store's; no timeout means never stuck", () => {
    expect(
      reconcileNode([run("a", { timeout_ms: 500 })], [onNode("a", "running", 1_800)], 2_000)[0]!.kind,
    ).toBe("apply");
    expect(
      reconcileNode([run("a", { timeout_ms: null })], [onNode("a", "running")], 10_000_000)[0]!.kind,
    ).toBe("apply");
  });

  test("elapsed time reported on the node's monotonic clock decides the timeout, whatever the wall clocks say", () => {
    // The controller's clock is 5 h ahead of the node's: the wall-clock difference would kill.
    const now = 1_000 + 5 * 3_600_000;
    const young = { ...onNode("a", "running"), elapsed_ms: 3_000 };
    expect(reconcileNode([run("a", { timeout_ms: 20_000 })], [young], now)).toEqual([
      { kind: "apply", run_id: "a" },
    ]);
    // And a run really past its timeout is stuck, by its own elapsed time.
    const old = { ...onNode("b", "running", now), elapsed_ms: 25_000 };
    expect(reconcileNode([run("b", { timeout_ms: 20_000 })], [old], now)).toEqual([
      { kind: "stuck", run_id: "b", task_id: "t-b", elapsed_ms: 25_000, timeout_ms: 20_000 },
    ]);
  });

  test("a young launching run absent from the node may still be in flight; an old one is a ghost", () => {
    const young = run("a", { state: "launching", created_at: 1_900, started_at: null });
    expect(reconcileNode([young], [], 2_000, 500)).toEqual([]);
    expect(reconcileNode([young], [], 2_500, 500)).toEqual([{ kind: "ghost", run_id: "a", task_id: "t-a" }]);
  });

  test("a cancelled task's live run is cancelled; if it already ended on the node it is applied", () => {
    expect(reconcileNode([run("a", { task_status: "cancelled" })], [onNode("a", "running")], 2_000)).toEqual([
      { kind: "cancel", run_id: "a", task_id: "t-a" },
    ]);
    expect(
      reconcileNode([run("a", { task_status: "cancelled" })], [onNode("a", "succeeded")], 2_000)[0]!.kind,
    ).toBe("apply");
  });
});

describe("findOrphans", () => {
  test("live node runs whose store run is over are orphans; unknown ids and active runs are not", () => {
    const states = new Map([
      ["done", "succeeded"],
      ["lost", "lost"],
      ["active", "running"],
      ["finished-on-node", "failed"],
    ]);
    const listed = [
      onNode("done", "running"),
      onNode("lost", "starting"),
      onNode("active", "running"),
      onNode("finished-on-node", "failed"),
      onNode("stranger", "running"),
      onNode("wrapper-died", "lost"),
    ];
    states.set("wrapper-died", "lost");
    expect(findOrphans(listed, (id) => states.get(id) ?? null)).toEqual(["done", "lost", "wrapper-died"]);
  });
});

describe("overdue", () => {
  test("alerts once: only never-alerted runs past the threshold", () => {
    const rows = [
      { id: 1, created_at: 0, alerted_at: null },
      { id: 2, created_at: 0, alerted_at: 5 },
      { id: 3, created_at: 9_500, alerted_at: null },
    ];
    expect(overdue(rows, 1_000, 10_000).map((r) => r.id)).toEqual([1]);
  });
});
