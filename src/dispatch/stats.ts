/**
 * The dispatch window (seeds/004 computeWindow1h), pure: what counts in the success rate and
 * what is reported beside it. `computeWindow` is the definition; the store's `windowStats`
 * only groups rows in SQL (for speed) and folds the groups with the same `foldWindow`, and
 * test/store/dispatch-events.test.ts asserts the two agree on the same data.
 */
import type { OverloadCause } from "./reasons.ts";

export interface DispatchSample {
  ts: number;
  success: boolean;
  reason: string | null;
  /** A refusal holds ready work back; only launches make the rate. Default: launch. */
  kind?: "launch" | "refusal";
  /** server_overloaded refusals: which threshold the node was over. */
  cause?: string | null;
}

/** Samples sharing kind, outcome, reason and cause, counted (one SQL GROUP BY row). */
export interface SampleGroup {
  kind: string;
  success: boolean;
  reason: string | null;
  cause: string | null;
  n: number;
}

export interface WindowStats {
  total: number;
  success: number;
  failed: number;
  /** success / total, or null with no data. */
  rate: number | null;
  failure_reasons: Record<string, number>;
}

export interface WindowCounts extends WindowStats {
  /** Refusals in the window by reason (held-back ready work; not part of the rate). */
  refusals: Record<string, number>;
  /** server_overloaded refusals in the window by cause. */
  overload_causes: Partial<Record<OverloadCause, number>>;
}

/** The oldest timestamp still inside the window (inclusive). */
export function windowCutoff(now: number, windowMs: number): number {
  return now - windowMs;
}

/**
 * Launch outcomes make the rate. A launch that failed for its node's reasons (full disk, broken
 * agent, lost reply) is that node's breaker's business: counted in the fleet-wide rate, one bad
 * node could gate them all, so it is reported with the refusals. A reason-less one is `unknown`.
 */
export function foldWindow(groups: Iterable<SampleGroup>): WindowCounts {
  let total = 0;
  let success = 0;
  const failure_reasons: Record<string, number> = {};
  const refusals: Record<string, number> = {};
  const overload_causes: Record<string, number> = {};
  const add = (into: Record<string, number>, key: string | null, n: number) => {
    const k = key || "unknown";
    into[k] = (into[k] ?? 0) + n;
  };
  for (const g of groups) {
    if (g.kind === "refusal" || g.reason === "node_failed") {
      add(refusals, g.reason, g.n);
      if (g.reason === "server_overloaded") add(overload_causes, g.cause, g.n);
      continue;
    }
    total += g.n;
    if (g.success) success += g.n;
    else add(failure_reasons, g.reason, g.n);
  }
  return {
    total,
    success,
    failed: total - success,
    rate: total > 0 ? success / total : null,
    failure_reasons,
    refusals,
    overload_causes,
  };
}

export function computeWindow(samples: DispatchSample[], now: number, windowMs: number): WindowCounts {
  const cutoff = windowCutoff(now, windowMs);
  return foldWindow(
    samples
      .filter((s) => s.ts >= cutoff)
      .map((s) => ({
        kind: s.kind ?? "launch",
        success: s.success,
        reason: s.reason,
        cause: s.cause ?? null,
        n: 1,
      })),
  );
}

/** Block dispatch when the rate is below the threshold with enough samples to mean something. */
export function lowSuccessRate(s: WindowStats, minRate: number, minSamples: number): boolean {
  return s.rate !== null && s.total >= minSamples && s.rate < minRate;
}
