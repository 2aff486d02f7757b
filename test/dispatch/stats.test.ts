import { describe, expect, test } from "bun:test";
import { computeWindow, lowSuccessRate } from "../../src/dispatch/stats.ts";
import { noDispatches } from "../helpers/fleet.ts";

const NOW = 1_700_000_000_000;
const HOUR = 3_600_000;
const samples = (n: number, ok: number) =>
  Array.from({ length: n }, (_, i) => ({
    ts: NOW - (i + 1) * 1000,
    success: i < ok,
    reason: i < ok ? null : "executor_failed",
  }));

describe("1-hour dispatch window", () => {
  test("computes total, success, failed, rate and failure reasons", () => {
    const s = computeWindow(samples(100, 95), NOW, HOUR);
    expect(s).toEqual({
      total: 100,
      success: 95,
      failed: 5,
      rate: 0.95,
      failure_reasons: { executor_failed: 5 },
      refusals: {},
      overload_causes: {},
    });
  });

  test("ignores samples older than the window and reports a null rate with no data", () => {
    const old = [{ ts: NOW - HOUR - 1, success: false, reason: "x" }];
    expect(computeWindow(old, NOW, HOUR)).toEqual(noDispatches());
  });

  test("a failure without a reason counts as unknown; node failures and refusals sit beside the rate", () => {
    const s = computeWindow(
      [
        { ts: NOW - 1, success: true, reason: null },
        { ts: NOW - 2, success: false, reason: null },
        { ts: NOW - 3, success: false, reason: "node_failed" },
        { ts: NOW - 4, success: false, reason: "server_overloaded", kind: "refusal", cause: "high_cpu_load" },
      ],
      NOW,
      HOUR,
    );
    expect(s).toEqual({
      total: 2,
      success: 1,
      failed: 1,
      rate: 0.5,
      failure_reasons: { unknown: 1 },
      refusals: { node_failed: 1, server_overloaded: 1 },
      overload_causes: { high_cpu_load: 1 },
    });
  });

  test("20% success over 15 samples is below 30% with enough samples: the gate blocks", () => {
    const s = computeWindow(samples(15, 3), NOW, HOUR);
    expect(s.rate).toBeCloseTo(0.2);
    expect(lowSuccessRate(s, 0.3, 10)).toBe(true);
  });

  test("too few samples or a rate at the threshold does not block", () => {
    expect(lowSuccessRate(computeWindow(samples(9, 1), NOW, HOUR), 0.3, 10)).toBe(false);
    expect(lowSuccessRate(computeWindow(samples(10, 3), NOW, HOUR), 0.3, 10)).toBe(false);
    expect(lowSuccessRate(computeWindow([], NOW, HOUR), 0.3, 10)).toBe(false);
  });
});
