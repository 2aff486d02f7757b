import type { WindowCounts } from "./stats.ts";

/** The window as the store counts it (src/store/dispatch-events.ts windowStats). */
export interface WindowReport extends WindowCounts {
  window_s: number;
}

/** One dispatch_events row. */
export interface DispatchEventRow {
  id: number;
  ts: number;
  kind: string;
  success: number;
  reason: string | null;
  task_id: string | null;
  node: string | null;
  cause: string | null;
}

/**
 * `oyster stats --json` and `/api/stats`: the window as before (so `.rate` still works), plus
 * the seeds/004 `dispatch_stats` shape — `last_updated` and `events` at the top level and the
 * window under `window_1h` (the seed's name; it covers `dispatch.window`). Times are ISO 8601
 * with the epoch-ms value beside them (`*_ms`). Pure: the store reads happen in the caller.
 */
export interface StatsEvent {
  ts: string;
  ts_ms: number;
  success: boolean;
  /** Why not (null for a successful launch). */
  reason: string | null;
  task_id: string | null;
  node: string | null;
  /** `launch`: an outcome that counts in the rate; `refusal`: ready work held back. */
  kind: string;
  /** server_overloaded only: high_cpu_load, insufficient_memory or high_swap. */
  cause?: string;
}

export interface StatsView extends WindowReport {
  last_updated: string | null;
  last_updated_ms: number | null;
  window_1h: {
    total: number;
    success: number;
    failed: number;
    rate: number | null;
    last_updated: string | null;
    failure_reasons: Record<string, number>;
  };
  /** Newest first. */
  events: StatsEvent[];
}

export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function statsView(window: WindowReport, rows: DispatchEventRow[], lastMs: number | null): StatsView {
  const last_updated = iso(lastMs);
  return {
    ...window,
    last_updated,
    last_updated_ms: lastMs,
    window_1h: {
      total: window.total,
      success: window.success,
      failed: window.failed,
      rate: window.rate,
      last_updated,
      failure_reasons: window.failure_reasons,
    },
    events: rows.map((r) => ({
      ts: new Date(r.ts).toISOString(),
      ts_ms: r.ts,
      success: r.success === 1,
      reason: r.success === 1 ? null : r.reason,
      task_id: r.task_id,
      node: r.node,
      kind: r.kind,
      ...(r.cause ? { cause: r.cause } : {}),
    })),
  };
}
