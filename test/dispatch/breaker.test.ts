import { describe, expect, test } from "bun:test";
import {
  admit,
  allows,
  closedBreaker,
  currentState,
  onFailure,
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
