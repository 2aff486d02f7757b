import { describe, expect, test } from "bun:test";
import { type BreakerState, closedBreaker } from "../../src/dispatch/breaker.ts";
import { type DecisionInput, decide } from "../../src/dispatch/placement.ts";
import { decisionInput, NOW, nodeView as node } from "../helpers/decision.ts";

const task = (id: string, paths: string[] = [], executor = "shell") => ({ task_id: id, executor, paths });
const base = (over: Partial<DecisionInput> = {}) => decisionInput([task("a"), task("b"), task("c")], over);
const open = (key: string): BreakerState => ({
  ...closedBreaker(key),
  state: "OPEN",
  failures: 3,
  opened_at: NOW - 1000,
});

describe("one scheduler decision", () => {
  test("spreads ready tasks across nodes in priority order", () => {
    const d = decide(base());
    expect(d.launches.map((l) => `${l.task_id}@${l.node}`)).toEqual(["a@n1", "b@n2", "c@n1"]);
    expect(d.refusals).toEqual([]);
  });

  test("drain is checked before pause, and pause before everything else", () => {
    expect(decide(base({ drain: true, pause: true })).refusals).toEqual([{ reason: "draining" }]);
    expect(decide(base({ pause: true, nodes: [] })).refusals).toEqual([{ reason: "billing_pause" }]);
  });

  test("no free slot anywhere is pool_exhausted", () => {
    const d = decide(base({ nodes: [node("n1", { running: 2 }), node("n2", { online: false })] }));
    expect(d.launches).toEqual([]);
    expect(d.refusals).toEqual([{ reason: "pool_exhausted" }]);
  });

  test("an OPEN node breaker sends the work to the other node", () => {
    const d = decide(base({ breakers: new Map([["node:n1", open("node:n1")]]) }));
    expect(d.launches.every((l) => l.node === "n2")).toBe(true);
    expect(d.launches).toHaveLength(2);
  });

  test("every node OPEN refuses with circuit_breaker_open", () => {
    const breakers = new Map([
      ["node:n1", open("node:n1")],
      ["node:n2", open("node:n2")],
    ]);
    expect(decide(base({ breakers })).refusals[0]?.reason).toBe("circuit_breaker_open");
  });

  test("a HALF_OPEN node admits exactly one probe launch per tick", () => {
    const half = { ...open("node:n1"), opened_at: NOW - 400_000 };
    const d = decide(base({ nodes: [node("n1", { slots: 5 })], breakers: new Map([["node:n1", half]]) }));
    expect(d.launches).toHaveLength(1);
  });

  test("an OPEN executor breaker holds back that executor's tasks only", () => {
    const d = decide(
      base({
        ready: [task("g1", [], "glm"), task("s1")],
        breakers: new Map([["executor:glm", open("executor:glm")]]),
      }),
    );
    expect(d.launches.map((l) => l.task_id)).toEqual(["s1"]);
    expect(d.refusals).toEqual([{ reason: "circuit_breaker_open", task_id: "g1", detail: "executor:glm" }]);
  });

  test("a low success rate with enough samples refuses before node resources are looked at", () => {
    const stats = { total: 15, success: 3, failed: 12, rate: 0.2, failure_reasons: {} };
    const d = decide(base({ stats }));
    expect(d.launches).toEqual([]);
    expect(d.refusals[0]?.reason).toBe("low_success_rate");
  });

  test("an overloaded node is skipped with server_overloaded and its reason", () => {
    const hot = node("n1", { resources: { load1: 9, load5: 9, load15: 9, mem_avail_mb: 8000, swap_pct: 0 } });
    const d = decide(base({ nodes: [hot, node("n2")] }));
    expect(d.launches.every((l) => l.node === "n2")).toBe(true);
    expect(d.refusals).toContainEqual({
      reason: "server_overloaded",
      node: "n1",
      cause: "high_cpu_load",
      detail: "high_cpu_load (9.00 ≥ 8)",
    });
    const lowMem = node("n1", {
      resources: { load1: 0, load5: 0, load15: 0, mem_avail_mb: 100, swap_pct: 0 },
    });
    expect(decide(base({ nodes: [lowMem] })).refusals[0]?.cause).toBe("insufficient_memory");
    const swap = node("n1", {
      resources: { load1: 0, load5: 0, load15: 0, mem_avail_mb: 9000, swap_pct: 80 },
    });
    expect(decide(base({ nodes: [swap] })).refusals[0]?.cause).toBe("high_swap");
  });

  test("two tasks that modify the same path are never launched together, nor beside a locked path", () => {
    const d = decide(base({ ready: [task("a", ["x.py"]), task("b", ["x.py"]), task("c", ["y.py"])] }));
    expect(d.launches.map((l) => l.task_id)).toEqual(["a", "c"]);
    const d2 = decide(base({ ready: [task("a", ["x.py"])], lockedPaths: new Set(["x.py"]) }));
    expect(d2.launches).toEqual([]);
  });

  test("a task with a lease is refused as already_running", () => {
    const d = decide(base({ ready: [task("a")], leased: new Set(["a"]) }));
    expect(d.launches).toEqual([]);
    expect(d.refusals).toEqual([{ reason: "already_running", task_id: "a" }]);
  });

  test("tasks go only to nodes that support their executor; on no node at all is pre_flight_check_failed", () => {
    const nodes = [node("n1", { executors: ["shell"] }), node("n2", { executors: ["glm", "shell"] })];
    const d = decide(base({ nodes, ready: [task("g", [], "glm"), task("z", [], "zzz")] }));
    expect(d.launches).toEqual([{ task_id: "g", node: "n2", executor: "glm" }]);
    expect(d.refusals).toEqual([
      { reason: "pre_flight_check_failed", task_id: "z", detail: 'executor "zzz" is on no node' },
    ]);
  });

  test("an executor whose only nodes cannot take work now is no_executor, once per executor", () => {
    const hot = { load1: 9, load5: 9, load15: 9, mem_avail_mb: 8000, swap_pct: 0 };
    const nodes = [node("n1", { executors: ["shell"] }), node("n2", { executors: ["glm"], resources: hot })];
    const d = decide(base({ nodes, ready: [task("g1", [], "glm"), task("g2", [], "glm")] }));
    expect(d.launches).toEqual([]);
    expect(d.refusals.filter((r) => r.reason === "no_executor")).toEqual([
      { reason: "no_executor", task_id: "g1", detail: "glm" },
    ]);
  });

  test("draining nodes get no work; maxLaunches bounds one tick", () => {
    const d = decide(
      base({ nodes: [node("n1", { draining: true }), node("n2", { slots: 10 })], maxLaunches: 2 }),
    );
    expect(d.launches.map((l) => l.node)).toEqual(["n2", "n2"]);
  });
});
