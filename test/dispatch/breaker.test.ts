import { describe, expect, test } from "bun:test";
import {
  admit,
  allows,
  closedBreaker,
  currentState,
  onFailure,
  onProbeAnswered,
  onSuccess,
} from "../../src/dispatch/breaker.ts";

const policy = { failures: 3, openForMs: 5 * 60_000 };
const T0 = 1_700_000_000_000;

describe("circuit breaker", () => {
  test("stays CLOSED for two failures and opens on the third with failure_threshold_reached", () => {
    let b = closedBreaker("node:a");
    let t: ReturnType<typeof onFailure>[1];
    [b, t] = onFailure(b, T0, policy);
    [b, t] = onFailure(b, T0 + 1, policy);
    expect(b.state).toBe("CLOSED");
    expect(b.failures).toBe(2);
    expect(t).toBeNull();
    [b, t] = onFailure(b, T0 + 2, policy);
    expect(b.state).toBe("OPEN");
    expect(t).toEqual({
      kind: "circuit_open",
      reason: "failure_threshold_reached",
      key: "node:a",
      failures: 3,
    });
    expect(allows(b, T0 + 3, policy)).toBe(false);
  });

  test("reads HALF_OPEN after the open duration and admits exactly one probe", () => {
    let b = closedBreaker("k");
    for (let i = 0; i < 3; i++) [b] = onFailure(b, T0, policy);
    const later = T0 + policy.openForMs;
    expect(currentState(b, later - 1, policy).state).toBe("OPEN");
    expect(currentState(b, later, policy).state).toBe("HALF_OPEN");
    expect(allows(b, later, policy)).toBe(true);
    const probing = admit(b, later, policy);
    expect(allows(probing, later, policy)).toBe(false);
  });

  test("a successful probe closes it and resets failures; a failed probe reopens it", () => {
    let b = closedBreaker("k");
    for (let i = 0; i < 3; i++) [b] = onFailure(b, T0, policy);
    const later = T0 + policy.openForMs + 1;
    const [closed, t1] = onSuccess(admit(b, later, policy), later, policy);
    expect(closed.state).toBe("CLOSED");
    expect(closed.failures).toBe(0);
    expect(t1?.kind).toBe("circuit_closed");
    const [reopened, t2] = onFailure(admit(b, later, policy), later, policy);
    expect(reopened.state).toBe("OPEN");
    expect(reopened.opened_at).toBe(later);
    expect(t2?.reason).toBe("half_open_probe_failed");
  });

  test("a success while CLOSED resets the consecutive-failure count without a transition", () => {
    let b = closedBreaker("k");
    [b] = onFailure(b, T0, policy);
    [b] = onFailure(b, T0, policy);
    const [next, t] = onSuccess(b, T0, policy);
    expect(next.failures).toBe(0);
    expect(t).toBeNull();
  });
});

describe("a node that answers a probe", () => {
  const opened = () => {
    let b = closedBreaker("node:a");
    for (let i = 0; i < 3; i++) [b] = onFailure(b, T0 + i, policy);
    return b;
  };

  test("moves an OPEN breaker to HALF_OPEN at once, long before open_for passes", () => {
    const [b, t] = onProbeAnswered(opened(), T0 + 1_000, policy);
    expect(b.state).toBe("HALF_OPEN");
    expect(b.probe_in_flight).toBe(false);
    expect(t).toEqual({ kind: "circuit_half_open", key: "node:a", failures: 3 });
    expect(allows(b, T0 + 1_000, policy)).toBe(true);
    // Exactly one launch goes through; its success closes the breaker.
    const taken = admit(b, T0 + 1_001, policy);
    expect(allows(taken, T0 + 1_001, policy)).toBe(false);
    expect(onSuccess(taken, T0 + 2_000, policy)[0].state).toBe("CLOSED");
  });

  test("never closes a breaker by itself: HALF_OPEN waits for the launch", () => {
    const [half] = onProbeAnswered(opened(), T0 + 1_000, policy);
    const [again, t] = onProbeAnswered(half, T0 + 2_000, policy);
    expect(again).toBe(half);
    expect(t).toBeNull();
    // A failed launch reopens it; the next answer lets one launch through again.
    const [reopened] = onFailure(admit(half, T0 + 2_500, policy), T0 + 3_000, policy);
    expect(reopened.state).toBe("OPEN");
    expect(onProbeAnswered(reopened, T0 + 3_500, policy)[0].state).toBe("HALF_OPEN");
  });

  test("clears the failures of a CLOSED breaker and leaves a clean one as it is", () => {
    let b = closedBreaker("node:a");
    [b] = onFailure(b, T0, policy);
    expect(onProbeAnswered(b, T0 + 1, policy)[0]).toEqual(closedBreaker("node:a"));
    const clean = closedBreaker("node:a");
    expect(onProbeAnswered(clean, T0, policy)[0]).toBe(clean);
  });
});
