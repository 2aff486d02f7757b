/** The 1-hour dispatch window (seeds/004 computeWindow1h), pure. */
export interface DispatchSample {
  ts: number;
  success: boolean;
  reason: string | null;
}

export interface WindowStats {
  total: number;
  success: number;
  failed: number;
  /** success / total, or null with no data. */
  rate: number | null;
  failure_reasons: Record<string, number>;
}

export function computeWindow(samples: DispatchSample[], now: number, windowMs: number): WindowStats {
  const cutoff = now - windowMs;
  let total = 0;
  let success = 0;
  const failure_reasons: Record<string, number> = {};
  for (const s of samples) {
    if (s.ts < cutoff) continue;
    total++;
    if (s.success) success++;
    else if (s.reason) failure_reasons[s.reason] = (failure_reasons[s.reason] ?? 0) + 1;
  }
  return {
    total,
    success,
    failed: total - success,
    rate: total > 0 ? success / total : null,
    failure_reasons,
  };
}

/** Block dispatch when the rate is below the threshold with enough samples to mean something. */
export function lowSuccessRate(s: WindowStats, minRate: number, minSamples: number): boolean {
  return s.rate !== null && s.total >= minSamples && s.rate < minRate;
}
