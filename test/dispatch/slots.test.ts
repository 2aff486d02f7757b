import { describe, expect, test } from "bun:test";
import { closedBreaker } from "../../src/dispatch/breaker.ts";
import { type DecisionInput, decide } from "../../src/dispatch/placement.ts";
import { parseReservation, poolUsage } from "../../src/dispatch/slots.ts";
import { explainWaiting, type PendingTask, topWaiting } from "../../src/dispatch/waiting.ts";
import { decisionInput, NOW, nodeView as node } from "../helpers/decision.ts";

const task = (id: string, executor = "shell", project = "p", paths: string[] = []) => ({
  task_id: id,
  executor,
  project,
  paths,
});
const base = (over: Partial<DecisionInput> = {}) => decisionInput([task("a"), task("b"), task("c")], over);
const reasons = (d: ReturnType<typeof decide>) =>
  Object.fromEntries([...d.waiting].map(([id, w]) => [id, w.reason]));

describe("pools", () => {
  test("a pool of 1 for an executor launches one of three; the others wait pool_full, one refusal per pool", () => {
    const d = decide(
      base({
        ready: [task("a", "glm"), task("b", "glm"), task("c", "glm"), task("d", "shell")],
        pools: [{ name: "glm", executor: "glm", slots: 1, running: 0 }],
      }),
    );
    expect(d.launches.map((l) => l.task_id)).toEqual(["a", "d"]);
    expect(reasons(d)).toEqual({ a: "ready", b: "pool_full", c: "pool_full", d: "ready" });
    expect(d.waiting.get("b")?.detail).toBe("pool glm 1/1");
    expect(d.refusals).toEqual([{ reason: "pool_full", task_id: "b", detail: "pool glm" }]);
  });

  test("pools are the slot budget, checked before breakers, the success rate and resources", () => {
    const open = new Map(
      ["n1", "n2"].map((n) => [
        `node:${n}`,
        { ...closedBreaker(`node:${n}`), state: "OPEN" as const, failures: 3, opened_at: NOW },
      ]),
    );
    const pools = [{ name: "glm", executor: "glm", slots: 1, running: 1 }];
    const allGlm = decide(base({ ready: [task("a", "glm"), task("b", "glm")], breakers: open, pools }));
    expect(allGlm.refusals).toEqual([{ reason: "pool_full", task_id: "a", detail: "pool glm" }]);
    expect(reasons(allGlm)).toEqual({ a: "pool_full", b: "pool_full" });
    const mixed = decide(base({ ready: [task("a", "glm"), task("s")], breakers: open, pools }));
    expect(mixed.refusals.map((r) => r.reason)).toEqual(["circuit_breaker_open", "pool_full"]);
    expect(reasons(mixed)).toEqual({ a: "pool_full", s: "circuit_breaker_open" });
  });

  test("a full pool holds back its tasks while the fleet has room; pools select by project too", () => {
    const d = decide(
      base({
        ready: [task("a", "shell", "shop"), task("b", "shell", "blog")],
        pools: [{ name: "shop", project: "shop", slots: 6, running: 6 }],
      }),
    );
    expect(d.launches.map((l) => l.task_id)).toEqual(["b"]);
    expect(d.waiting.get("a")).toEqual({ reason: "pool_full", detail: "pool shop 6/6" });
  });

  test("a pool selected by executor and project counts only tasks with both", () => {
    const pools = poolUsage(
      [{ name: "x", executor: "glm", project: "shop", slots: 2 }],
      [
        { executor: "glm", project: "shop", n: 1 },
        { executor: "glm", project: "blog", n: 5 },
        { executor: "shell", project: "shop", n: 5 },
      ],
    );
    expect(pools[0]!.running).toBe(1);
  });

  test("all slots of the fleet taken stays pool_exhausted, ahead of pools", () => {
    const d = decide(
      base({
        nodes: [node("n1", { running: 2 })],
        pools: [{ name: "p", project: "p", slots: 1, running: 1 }],
      }),
    );
    expect(d.refusals).toEqual([{ reason: "pool_exhausted" }]);
    expect(reasons(d)).toEqual({ a: "pool_exhausted", b: "pool_exhausted", c: "pool_exhausted" });
  });
});

describe("team reservation", () => {
  test("reserve 2 on a 2-slot fleet launches nothing: user_team_mode", () => {
    const d = decide(base({ nodes: [node("n1")], reserve: { fleet: 2, nodes: {} } }));
    expect(d.launches).toEqual([]);
    expect(d.refusals).toEqual([{ reason: "user_team_mode" }]);
    expect(d.waiting.get("a")?.detail).toContain("2 slots fleet-wide");
  });

  test("a fleet-wide reservation leaves the rest to agents", () => {
    const d = decide(base({ reserve: { fleet: 3, nodes: {} } }));
    expect(d.launches.map((l) => l.task_id)).toEqual(["a"]);
    expect(reasons(d)).toEqual({ a: "ready", b: "user_team_mode", c: "user_team_mode" });
  });

  test("a node reservation keeps work off that node only", () => {
    const d = decide(base({ reserve: { fleet: 0, nodes: { n1: 2 } } }));
    expect(d.launches.map((l) => `${l.task_id}@${l.node}`)).toEqual(["a@n2", "b@n2"]);
    expect(reasons(d).c).toBe("user_team_mode");
  });

  test("a task whose only node is reserved waits user_team_mode while others run", () => {
    const d = decide(
      base({
        ready: [task("g", "glm"), task("s")],
        nodes: [node("n1", { executors: ["glm"] }), node("n2", { executors: ["shell"] })],
        reserve: { fleet: 0, nodes: { n1: 2 } },
      }),
    );
    expect(d.launches.map((l) => l.task_id)).toEqual(["s"]);
    expect(d.waiting.get("g")?.reason).toBe("user_team_mode");
  });

  test("the fleet fully taken is pool_exhausted even with a reservation; drain and pause come first", () => {
    expect(
      decide(base({ nodes: [node("n1", { running: 2 })], reserve: { fleet: 1, nodes: {} } })).refusals,
    ).toEqual([{ reason: "pool_exhausted" }]);
    expect(decide(base({ pause: true, reserve: { fleet: 9, nodes: {} } })).refusals).toEqual([
      { reason: "billing_pause" },
    ]);
    expect(decide(base({ drain: true, reserve: { fleet: 9, nodes: {} } })).refusals).toEqual([
      { reason: "draining" },
    ]);
  });

  test("the reservation is checked before breakers", () => {
    const breakers = new Map([
      ["node:n1", { ...closedBreaker("node:n1"), state: "OPEN" as const, failures: 3, opened_at: NOW }],
    ]);
    const d = decide(base({ nodes: [node("n1")], breakers, reserve: { fleet: 2, nodes: {} } }));
    expect(d.refusals).toEqual([{ reason: "user_team_mode" }]);
  });

  test("the stored form is read leniently", () => {
    expect(parseReservation(null)).toEqual({ fleet: 0, nodes: {} });
    expect(parseReservation("garbage")).toEqual({ fleet: 0, nodes: {} });
    expect(parseReservation('{"fleet":2,"nodes":{"a":1,"b":-1,"c":"x"}}')).toEqual({
      fleet: 2,
      nodes: { a: 1 },
    });
  });
});

describe("the nodes a task could use", () => {
  const openBreaker = (key: string) => ({
    ...closedBreaker(key),
    state: "OPEN" as const,
    failures: 3,
    opened_at: NOW,
  });

  test("every node of its executor has an open breaker: circuit_breaker_open, naming them", () => {
    const d = decide(
      base({
        ready: [task("g", "glm"), task("s")],
        nodes: [node("g1", { executors: ["glm"] }), node("n2", { executors: ["shell"] })],
        breakers: new Map([["node:g1", openBreaker("node:g1")]]),
      }),
    );
    expect(d.launches.map((l) => l.task_id)).toEqual(["s"]);
    expect(d.waiting.get("g")).toEqual({
      reason: "circuit_breaker_open",
      detail: "no node that runs glm can take it now: g1 breaker open",
    });
  });

  test("different causes: no_executor with each node's own", () => {
    const d = decide(
      base({
        ready: [task("g", "glm"), task("s")],
        nodes: [
          node("g1", { executors: ["glm"], online: false }),
          node("g2", { executors: ["glm"], draining: true }),
          node("g3", { executors: ["glm"], running: 2 }),
          node("n2", { executors: ["shell"] }),
        ],
      }),
    );
    expect(d.waiting.get("g")).toEqual({
      reason: "no_executor",
      detail: "no node that runs glm can take it now: g1 offline, g2 drained, g3 full 2/2",
    });
  });

  test("the fleet filled by this decision: the rest wait pool_exhausted with the slots now in use", () => {
    const d = decide(base({ nodes: [node("n1", { slots: 1 })] }));
    expect(d.waiting.get("c")).toEqual({ reason: "pool_exhausted", detail: "all slots taken: n1 1/1" });
  });
});

describe("why a pending task waits", () => {
  const pending = (id: string, over: Partial<PendingTask> = {}): PendingTask => ({
    ...task(id),
    not_before: 0,
    deps: [],
    ...over,
  });
  const facts = (over: Partial<DecisionInput> = {}) => {
    const { ready: _r, maxLaunches: _m, ...f } = base(over);
    return f;
  };

  test("dependency, backoff, lock holder, and the scheduler's own decision for the rest", () => {
    const w = explainWaiting(
      [
        pending("dep", {
          deps: [
            { task_id: "up", status: "failed" },
            { task_id: "ok", status: "succeeded" },
          ],
        }),
        pending("late", { not_before: NOW + 60_000 }),
        pending("locked", { paths: ["src/a.ts"] }),
        pending("go"),
      ],
      facts({
        lockedPaths: new Set(["src/a.ts"]),
        lockHolders: new Map([["src/a.ts", { task_id: "holder", run_id: "r-1", node: "n2" }]]),
      }),
    );
    expect(w.get("dep")).toEqual({ reason: "dependency", detail: "waits on up (failed)" });
    expect(w.get("late")).toEqual({
      reason: "backoff",
      detail: `retry backoff until ${new Date(NOW + 60_000).toISOString()}`,
    });
    expect(w.get("locked")).toEqual({
      reason: "modifies_locked",
      detail: "modifies src/a.ts held by task holder (run r-1 on node n2)",
    });
    expect(w.get("go")?.reason).toBe("ready");
  });

  test("a lock taken by a task placed ahead in the same decision names that task", () => {
    const w = explainWaiting(
      [pending("first", { paths: ["x"] }), pending("second", { paths: ["x"] })],
      facts(),
    );
    expect(w.get("second")?.detail).toMatch(/^modifies x held by task first \(launching now on node n\d\)$/);
  });

  test("every ready task gets a reason past the per-tick cap, and the top reasons are counted", () => {
    const many = Array.from({ length: 6 }, (_, i) => pending(`t${i}`));
    const w = explainWaiting(many, facts({ pools: [{ name: "p", project: "p", slots: 2, running: 0 }] }));
    expect([...w.values()].map((x) => x.reason)).toEqual([
      "ready",
      "ready",
      "pool_full",
      "pool_full",
      "pool_full",
      "pool_full",
    ]);
    expect(topWaiting(w.values())).toEqual([
      { reason: "pool_full", count: 4 },
      { reason: "ready", count: 2 },
    ]);
  });
});
