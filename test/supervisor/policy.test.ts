import { describe, expect, test } from "bun:test";
import {
  backoffDelay,
  freshLedger,
  onFailure,
  onHealthResult,
  shouldAlert,
  shouldReset,
} from "../../src/supervisor/policy.ts";

const cfg = { initial: 1_000, max: 60_000, reset_after: 10_000 };

describe("restart backoff", () => {
  test("a crash loop from start waits 1, 2, 4, 8 … seconds, capped at 60", () => {
    let ledger = freshLedger();
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      const r = onFailure(ledger, false, cfg);
      delays.push(r.delayMs);
      ledger = r.ledger;
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    expect(ledger.streak).toBe(9);
  });

  test("a healthy service that dies is restarted at once, then backs off if it fails again", () => {
    const first = onFailure(freshLedger(), true, cfg);
    expect(first.delayMs).toBe(0);
    const second = onFailure(first.ledger, true, cfg);
    expect(second.delayMs).toBe(1_000);
    expect(onFailure(second.ledger, false, cfg).delayMs).toBe(2_000);
  });

  test("initial and max are configurable", () => {
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, { initial: 200, max: 1_000 }))).toEqual([
      200, 400, 800, 1_000,
    ]);
  });

  test("the ladder resets only after staying healthy for reset_after", () => {
    expect(shouldReset(null, 50_000, cfg)).toBe(false);
    expect(shouldReset(45_000, 50_000, cfg)).toBe(false);
    expect(shouldReset(40_000, 50_000, cfg)).toBe(true);
  });

  test("alerts once per crash loop when it reaches alert_after_restarts", () => {
    expect([9, 10, 11].map((n) => shouldAlert(n, 10))).toEqual([false, true, false]);
  });
});

describe("health verdicts", () => {
  test("threshold consecutive failures mean restart; a success resets the count", () => {
    let c = { consecutiveFailures: 0 };
    const verdicts: string[] = [];
    for (const ok of [false, false, true, false, false, false]) {
      const r = onHealthResult(c, ok, { inGrace: false, threshold: 3 });
      verdicts.push(r.verdict);
      c = r.counter;
    }
    expect(verdicts).toEqual(["failing", "failing", "healthy", "failing", "failing", "restart"]);
  });

  test("failures during the grace period do not count", () => {
    const r = onHealthResult({ consecutiveFailures: 0 }, false, { inGrace: true, threshold: 1 });
    expect(r.verdict).toBe("ignored");
    expect(r.counter.consecutiveFailures).toBe(0);
  });
});
