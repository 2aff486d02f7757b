import { describe, expect, test } from "bun:test";
import {
  backoffDelay,
  crashLoopAlert,
  freshLedger,
  onFailure,
  onHealthResult,
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

  /** Failures one after another (never healthy in between), noting which ones alert. */
  function loop(ledger: ReturnType<typeof freshLedger>, failures: number, alertAfter: number) {
    const alerts: number[] = [];
    for (let i = 0; i < failures; i++) {
      const a = crashLoopAlert(onFailure(ledger, false, cfg).ledger, alertAfter);
      ledger = a.ledger;
      if (a.alert) alerts.push(ledger.streak);
    }
    return { alerts, ledger };
  }

  test("the crash-loop alert fires once, when restarts in a row exceed alert_after_restarts", () => {
    const { alerts, ledger } = loop(freshLedger(), 25, 10);
    // "more than 10": the 11th restart in a row, and not again in the same loop.
    expect(alerts).toEqual([11]);
    expect(ledger.alerted).toBe(true);
    expect(loop(freshLedger(), 10, 10).alerts).toEqual([]);
  });

  test("a loop that ended (fresh ledger) alerts again when the service loops anew", () => {
    const first = loop(freshLedger(), 5, 3);
    expect(first.alerts).toEqual([4]);
    // Still the same loop: no second alert however long it lasts.
    expect(loop(first.ledger, 20, 3).alerts).toEqual([]);
    // Recovered (healthy for reset_after → fresh ledger), then a new loop.
    expect(shouldReset(0, cfg.reset_after, cfg)).toBe(true);
    expect(loop(freshLedger(), 5, 3).alerts).toEqual([4]);
  });

  test("a healthy service that dies once is one restart, never an alert by itself", () => {
    const r = crashLoopAlert(onFailure(freshLedger(), true, cfg).ledger, 1);
    expect(r.alert).toBe(false);
    expect(crashLoopAlert(onFailure(r.ledger, false, cfg).ledger, 1).alert).toBe(true);
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
