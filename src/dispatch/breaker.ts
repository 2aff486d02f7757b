/**
 * Circuit breaker transitions (seeds/004), pure: the store persists the state, the scheduler
 * asks and reports. CLOSED → OPEN after N consecutive failures; OPEN → HALF_OPEN once the open
 * duration has passed; HALF_OPEN admits exactly one probe; success closes, failure reopens.
 */
export type BreakerStateName = "CLOSED" | "OPEN" | "HALF_OPEN";

export interface BreakerState {
  key: string;
  state: BreakerStateName;
  failures: number;
  opened_at: number | null;
  last_failure_at: number | null;
  probe_in_flight: boolean;
}

export interface BreakerPolicy {
  failures: number;
  openForMs: number;
}

/** The policy from config's `breaker:` section (`open_for` is already milliseconds). */
export const breakerPolicy = (c: { failures: number; open_for: number }): BreakerPolicy => ({
  failures: c.failures,
  openForMs: c.open_for,
});

export interface BreakerTransition {
  kind: "circuit_open" | "circuit_closed" | "circuit_half_open";
  reason?: "failure_threshold_reached" | "half_open_probe_failed";
  key: string;
  failures: number;
}

/** A breaker's state after an event, and the transition to announce (null: none). */
export type BreakerStep = [next: BreakerState, transition: BreakerTransition | null];

export function closedBreaker(key: string): BreakerState {
  return {
    key,
    state: "CLOSED",
    failures: 0,
    opened_at: null,
    last_failure_at: null,
    probe_in_flight: false,
  };
}

/** The state as of `now`: an OPEN breaker past its duration reads as HALF_OPEN. */
export function currentState(b: BreakerState, now: number, p: BreakerPolicy): BreakerState {
  if (b.state === "OPEN" && b.opened_at !== null && now - b.opened_at >= p.openForMs) {
    return { ...b, state: "HALF_OPEN", probe_in_flight: false };
  }
  return b;
}

/** May a launch go through this breaker now? HALF_OPEN lets exactly one probe through. */
export function allows(b: BreakerState, now: number, p: BreakerPolicy): boolean {
  const s = currentState(b, now, p);
  if (s.state === "CLOSED") return true;
  if (s.state === "HALF_OPEN") return !s.probe_in_flight;
  return false;
}

/** Mark that a launch was let through (so a HALF_OPEN breaker admits no second probe). */
export function admit(b: BreakerState, now: number, p: BreakerPolicy): BreakerState {
  const s = currentState(b, now, p);
  return s.state === "HALF_OPEN" ? { ...s, probe_in_flight: true } : s;
}

export function onSuccess(b: BreakerState, now: number, p: BreakerPolicy): BreakerStep {
  const s = currentState(b, now, p);
  const next = closedBreaker(b.key);
  if (s.state !== "CLOSED") return [next, { kind: "circuit_closed", key: b.key, failures: s.failures }];
  return [next, null];
}

/**
 * A probe reached the node (issue 13.5): an OPEN breaker goes HALF_OPEN at once instead of
 * waiting out `open_for`, so the next launch there is the one probe it admits. A probe never
 * closes an OPEN or HALF_OPEN breaker: only a launch proves the node can run work again.
 */
export function onProbeAnswered(b: BreakerState, now: number, p: BreakerPolicy): BreakerStep {
  const s = currentState(b, now, p);
  if (s.state === "OPEN") {
    const next: BreakerState = { ...s, state: "HALF_OPEN", probe_in_flight: false };
    return [next, { kind: "circuit_half_open", key: b.key, failures: s.failures }];
  }
  if (s.state === "HALF_OPEN") return [s, null];
  return [s.failures === 0 ? s : closedBreaker(b.key), null];
}

export function onFailure(b: BreakerState, now: number, p: BreakerPolicy): BreakerStep {
  const s = currentState(b, now, p);
  const failures = s.failures + 1;
  if (s.state === "HALF_OPEN") {
    const next: BreakerState = {
      ...s,
      state: "OPEN",
      failures,
      opened_at: now,
      last_failure_at: now,
      probe_in_flight: false,
    };
    return [next, { kind: "circuit_open", reason: "half_open_probe_failed", key: b.key, failures }];
  }
  if (s.state === "CLOSED" && failures >= p.failures) {
    const next: BreakerState = { ...s, state: "OPEN", failures, opened_at: now, last_failure_at: now };
    return [next, { kind: "circuit_open", reason: "failure_threshold_reached", key: b.key, failures }];
  }
  return [{ ...s, failures, last_failure_at: now }, null];
}

export const nodeBreakerKey = (node: string) => `node:${node}`;
export const executorBreakerKey = (executor: string) => `executor:${executor}`;
