import { describe, expect, test } from "bun:test";
import type { Reason } from "../../src/dispatch/reasons.ts";
import { computeWindow, type DispatchSample } from "../../src/dispatch/stats.ts";
import { recordDispatch, windowStats } from "../../src/store/dispatch-events.ts";
import { memoryStore } from "../helpers/store.ts";

describe("the dispatch window", () => {
  test("launches that failed for their node's reasons are reported beside the rate, not in it", () => {
    const s = memoryStore();
    s.tx((db) => {
      for (let i = 0; i < 3; i++)
        recordDispatch(db, { kind: "launch", success: true, node: "ok" }, 1_000 + i);
      for (let i = 0; i < 12; i++)
        recordDispatch(
          db,
          { kind: "launch", success: false, reason: "node_failed", node: "full" },
          2_000 + i,
        );
      recordDispatch(db, { kind: "launch", success: false, reason: "executor_failed", node: "ok" }, 3_000);
    });
    const w = s.tx((db) => windowStats(db, 4_000, 10_000));
    expect(w).toMatchObject({
      total: 4,
      success: 3,
      failed: 1,
      rate: 0.75,
      failure_reasons: { executor_failed: 1 },
      refusals: { node_failed: 12 },
    });
  });

  test("the indexed query and the pure definition agree on the same events", () => {
    const samples: DispatchSample[] = [
      { ts: 500, success: false, reason: "executor_failed" }, // before the window
      { ts: 1_000, success: true, reason: null },
      { ts: 1_001, success: true, reason: null },
      { ts: 1_100, success: false, reason: null },
      { ts: 1_200, success: false, reason: "executor_failed" },
      { ts: 1_300, success: false, reason: "node_failed" },
      { ts: 1_400, success: false, reason: "already_running", kind: "refusal" },
      { ts: 1_500, success: false, reason: "server_overloaded", kind: "refusal", cause: "high_swap" },
      { ts: 1_600, success: false, reason: "server_overloaded", kind: "refusal", cause: null },
    ];
    const s = memoryStore();
    s.tx((db) => {
      for (const x of samples)
        recordDispatch(
          db,
          {
            kind: x.kind ?? "launch",
            success: x.success,
            reason: x.reason as Reason | null,
            node: "n",
            cause: (x.cause ?? null) as "high_swap" | null,
          },
          x.ts,
        );
    });
    const { window_s, ...sql } = s.tx((db) => windowStats(db, 2_000, 1_000));
    expect(window_s).toBe(1);
    expect(sql).toEqual(computeWindow(samples, 2_000, 1_000));
    expect(sql.failure_reasons).toEqual({ unknown: 1, executor_failed: 1 });
  });
});
