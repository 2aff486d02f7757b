import { describe, expect, test } from "bun:test";
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
});
