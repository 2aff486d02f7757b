/**
 * Pure restart decisions, apart from timers and processes so they are unit-tested directly.
 *
 * Backoff: an instance that fails after it was healthy is restarted at once (a `kill -9` or a hang
 * of a good service costs no extra delay). Any further failure before the service has stayed
 * healthy for `reset_after` is a crash loop: initial, then doubling up to max (1, 2, 4, 8 … 60 s).
 */
export interface BackoffConfig {
  initial: number;
  max: number;
  reset_after: number;
}

export interface RestartLedger {
  /** Failures in the current crash loop. */
  streak: number;
  /** Delayed restarts in the current crash loop (the exponent of the next delay). */
  delayed: number;
  /** The crash-loop alert of this loop has been sent. */
  alerted: boolean;
}

export const freshLedger = (): RestartLedger => ({ streak: 0, delayed: 0, alerted: false });

/** Record one failure; returns the delay before the next start and the new ledger. */
export function onFailure(
  ledger: RestartLedger,
  wasHealthy: boolean,
  cfg: BackoffConfig,
): { delayMs: number; ledger: RestartLedger } {
  if (ledger.streak === 0 && wasHealthy)
    return { delayMs: 0, ledger: { streak: 1, delayed: 0, alerted: ledger.alerted } };
  const delayMs = backoffDelay(ledger.delayed, cfg);
  return {
    delayMs,
    ledger: { streak: ledger.streak + 1, delayed: ledger.delayed + 1, alerted: ledger.alerted },
  };
}

/** initial × 2^n, capped at max. */
export function backoffDelay(n: number, cfg: Pick<BackoffConfig, "initial" | "max">): number {
  return Math.min(cfg.max, cfg.initial * 2 ** Math.min(n, 40));
}

/** A crash loop ends once the current instance has been healthy (or up) for reset_after. */
export function shouldReset(healthySince: number | null, now: number, cfg: BackoffConfig): boolean {
  return healthySince !== null && now - healthySince >= cfg.reset_after;
}

/**
 * The crash-loop alert: it fires when the restarts in a row exceed `alert_after_restarts` (the
 * seed's "more than 10"), once per crash loop. The ledger remembers it; a loop that ends (the
 * service stayed healthy for reset_after, or the operator restarted it) starts a fresh ledger,
 * so the next loop alerts again.
 */
export function crashLoopAlert(
  ledger: RestartLedger,
  alertAfter: number,
): { alert: boolean; ledger: RestartLedger } {
  if (ledger.alerted || ledger.streak <= alertAfter) return { alert: false, ledger };
  return { alert: true, ledger: { ...ledger, alerted: true } };
}

export interface HealthCounter {
  consecutiveFailures: number;
}

export type HealthVerdict = "healthy" | "failing" | "ignored" | "restart";

/**
 * One check result. Failures while the instance is in its grace period (started less than
 * `grace` ago and never healthy yet) do not count; `threshold` consecutive counted failures
 * mean restart.
 */
export function onHealthResult(
  counter: HealthCounter,
  ok: boolean,
  opts: { inGrace: boolean; threshold: number },
): { verdict: HealthVerdict; counter: HealthCounter } {
  if (ok) return { verdict: "healthy", counter: { consecutiveFailures: 0 } };
  if (opts.inGrace) return { verdict: "ignored", counter };
  const n = counter.consecutiveFailures + 1;
  return { verdict: n >= opts.threshold ? "restart" : "failing", counter: { consecutiveFailures: n } };
}
