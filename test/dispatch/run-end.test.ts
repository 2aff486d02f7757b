import { describe, expect, test } from "bun:test";
import { RECOVERABLE_REASONS } from "../../src/dispatch/reasons.ts";
import {
  attemptsLeft,
  endReason,
  nodeReportEnd,
  retryDelay,
  retryPolicyOf,
  revivalsLeft,
  runOutcome,
  taskAfterRun,
} from "../../src/dispatch/run-end.ts";

const policy = retryPolicyOf({ backoff: 1_000, max_backoff: 10_000 });
const NOW = 50_000;
const fresh = { attempts: 1, max_attempts: 3 };
const spent = { attempts: 3, max_attempts: 3 };

describe("the retry policy", () => {
  test("the config's retry section reads as backoff and cap", () => {
    expect(policy).toEqual({ backoffMs: 1_000, maxBackoffMs: 10_000 });
  });

  test("backoff doubles per failed attempt and stops at the cap", () => {
    expect([0, 1, 2, 3, 4, 5, 9].map((n) => retryDelay(n, policy))).toEqual([
      1_000, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000,
    ]);
  });
});

describe("attempts and revivals left", () => {
  test("attempts left never go below zero", () => {
    expect(attemptsLeft({ attempts: 1, max_attempts: 3 })).toBe(2);
    expect(attemptsLeft({ attempts: 5, max_attempts: 3 })).toBe(0);
  });

  test("revivals: what is left of the budget, never past the spec's own max_attempts", () => {
    expect(revivalsLeft({ own_max_attempts: null, revivals: 1, attempts: 9, max_attempts: 9 }, 3)).toBe(2);
    expect(revivalsLeft({ own_max_attempts: null, revivals: 4, attempts: 1, max_attempts: 3 }, 3)).toBe(0);
    expect(revivalsLeft({ own_max_attempts: 2, revivals: 0, attempts: 2, max_attempts: 2 }, 3)).toBe(0);
    // Still running within its own max_attempts: nothing beyond it.
    expect(revivalsLeft({ own_max_attempts: 3, revivals: 0, attempts: 1, max_attempts: 3 }, 3)).toBe(0);
    // Dead below its own max_attempts (a revival capped it, or a replace raised it): up to it.
    expect(revivalsLeft({ own_max_attempts: 5, revivals: 0, attempts: 3, max_attempts: 3 }, 3)).toBe(2);
    expect(revivalsLeft({ own_max_attempts: 5, revivals: 2, attempts: 3, max_attempts: 3 }, 3)).toBe(1);
  });
});

describe("a task's next status when its run ends", () => {
  test("success and cancel are final; only a cancel blocks the dependents", () => {
    expect(taskAfterRun({ state: "succeeded" }, spent, policy, NOW)).toEqual({
      status: "succeeded",
      notBefore: 0,
      final: true,
      blocksDependents: false,
    });
    expect(taskAfterRun({ state: "cancelled" }, fresh, policy, NOW)).toEqual({
      status: "cancelled",
      notBefore: 0,
      final: true,
      blocksDependents: true,
    });
  });

  test("a failure with attempts left waits out its backoff; with none left the task is dead", () => {
    expect(taskAfterRun({ state: "failed" }, { attempts: 2, max_attempts: 3 }, policy, NOW)).toEqual({
      status: "failed",
      notBefore: NOW + 2_000,
      final: false,
      blocksDependents: false,
    });
    expect(taskAfterRun({ state: "failed" }, spent, policy, NOW)).toEqual({
      status: "dead",
      notBefore: 0,
      final: true,
      blocksDependents: true,
    });
  });

  test("a lost run goes back to pending at once, unless its attempts are spent", () => {
    expect(taskAfterRun({ state: "lost" }, fresh, policy, NOW).status).toBe("pending");
    expect(taskAfterRun({ state: "lost" }, spent, policy, NOW).status).toBe("dead");
  });

  test("a launch that never reached the node requeues even with its attempts spent", () => {
    const after = taskAfterRun({ state: "failed", launchFailed: true }, spent, policy, NOW);
    expect(after).toEqual({ status: "pending", notBefore: 0, final: false, blocksDependents: false });
  });
});

describe("reasons and outcomes of an end", () => {
  test("a failure without a reason is a non-zero exit, a lost run is lost, a success has none", () => {
    expect(endReason({ state: "failed" })).toBe("exit_nonzero");
    expect(endReason({ state: "lost" })).toBe("lost");
    expect(endReason({ state: "succeeded" })).toBeNull();
    expect(endReason({ state: "failed", reason: "timeout" })).toBe("timeout");
  });

  test("a lost or timed-out run is worth reviving; a non-zero exit, a kill or a cancel is not", () => {
    expect(RECOVERABLE_REASONS).toContain("lost");
    expect(RECOVERABLE_REASONS).toContain("timeout");
    for (const r of ["exit_nonzero", "killed", "cancelled", "pre_flight_check_failed"] as const)
      expect(RECOVERABLE_REASONS).not.toContain(r);
  });

  test("the metric counts a timeout apart from other failures", () => {
    expect(runOutcome({ state: "failed", reason: "timeout" })).toBe("timeout");
    expect(runOutcome({ state: "failed", reason: "killed" })).toBe("failed");
    expect(runOutcome({ state: "cancelled", reason: "cancelled" })).toBe("cancelled");
  });
});

describe("a node's report of a run", () => {
  const report = (state: Parameters<typeof nodeReportEnd>[0]["state"], exit_code: number | null) => ({
    state,
    exit_code,
    finished_at: 9,
  });

  test("is no end while the run starts, runs, or is lost (the reaper settles a lost run)", () => {
    expect(nodeReportEnd(report("starting", null))).toBeNull();
    expect(nodeReportEnd(report("running", null))).toBeNull();
    expect(nodeReportEnd(report("lost", null))).toBeNull();
  });

  test("succeeded is a success; killed and failed are failures that say which", () => {
    expect(nodeReportEnd(report("succeeded", 0))).toEqual({
      state: "succeeded",
      exit_code: 0,
      finished_at: 9,
    });
    expect(nodeReportEnd(report("killed", null))).toEqual({
      state: "failed",
      exit_code: null,
      reason: "killed",
      finished_at: 9,
    });
    expect(nodeReportEnd(report("failed", 3))?.reason).toBe("exit_nonzero");
  });
});
