import {
  type BreakerPolicy,
  type BreakerState,
  type BreakerStep,
  type BreakerTransition,
  onFailure,
  onProbeAnswered,
  onSuccess,
} from "../dispatch/breaker.ts";
import { logger } from "../log.ts";
import { getBreaker, saveBreaker } from "../store/breakers.ts";
import type { Db } from "../store/db.ts";
import { recordEvent } from "../store/events.ts";

const log = logger("breaker");

/**
 * Report an outcome to a persisted breaker inside the caller's transaction. Returns the
 * transition (if any) so the caller can notify after the transaction commits.
 */
export function reportOutcome(
  db: Db,
  key: string,
  ok: boolean,
  policy: BreakerPolicy,
  now: number,
): BreakerTransition | null {
  const cur = getBreaker(db, key);
  if (ok && cur.state === "CLOSED" && cur.failures === 0) return null; // nothing to write on the hot path
  return record(db, key, cur, ok ? onSuccess(cur, now, policy) : onFailure(cur, now, policy), now);
}

/** A probe answered: OPEN → HALF_OPEN at once (see `onProbeAnswered`). In the caller's transaction. */
export function reportProbeAnswered(
  db: Db,
  key: string,
  policy: BreakerPolicy,
  now: number,
): BreakerTransition | null {
  const cur = getBreaker(db, key);
  if (cur.state === "CLOSED" && cur.failures === 0) return null;
  return record(db, key, cur, onProbeAnswered(cur, now, policy), now);
}

function record(
  db: Db,
  key: string,
  cur: BreakerState,
  [next, transition]: BreakerStep,
  now: number,
): BreakerTransition | null {
  if (next === cur) return null;
  saveBreaker(db, next, now);
  if (transition) {
    recordEvent(
      db,
      {
        kind: transition.kind,
        source: "breaker",
        node: key.startsWith("node:") ? key.slice(5) : null,
        data: { key, reason: transition.reason ?? null, failures: transition.failures },
      },
      now,
    );
  }
  return transition;
}

export function announce(
  transitions: (BreakerTransition | null)[],
  notify: (p: Record<string, unknown>) => void,
): void {
  for (const t of transitions) {
    if (!t) continue;
    const msg = `${t.key} ${
      t.kind === "circuit_open"
        ? `opened (${t.reason}, ${t.failures} failures)`
        : t.kind === "circuit_half_open"
          ? "half-open: the node answers again; its next launch decides"
          : "closed"
    }`;
    if (t.kind === "circuit_open") log.warn(msg);
    else log.info(msg);
    notify({ kind: t.kind, key: t.key, reason: t.reason ?? null, failures: t.failures });
  }
}
