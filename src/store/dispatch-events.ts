import type { WindowStats } from "../dispatch/stats.ts";
import type { Db } from "./db.ts";

export interface DispatchEventInput {
  kind: "launch" | "refusal";
  success: boolean;
  reason?: string | null;
  task_id?: string | null;
  node?: string | null;
}

export function recordDispatch(db: Db, e: DispatchEventInput, now = Date.now()): void {
  db.query(
    "INSERT INTO dispatch_events (ts, kind, success, reason, task_id, node) VALUES (?, ?, ?, ?, ?, ?)",
  ).run(now, e.kind, e.success ? 1 : 0, e.reason ?? null, e.task_id ?? null, e.node ?? null);
}

export interface WindowReport extends WindowStats {
  /** Refusals in the window by reason (held-back ready work; not part of the rate). */
  refusals: Record<string, number>;
  window_s: number;
}

/** The window by indexed query: launch outcomes make the rate; refusals are reported beside it. */
export function windowStats(db: Db, now: number, windowMs: number): WindowReport {
  const cutoff = now - windowMs;
  const rows = db
    .query(
      "SELECT kind, success, COALESCE(reason, '') AS reason, COUNT(*) AS n FROM dispatch_events WHERE ts >= ? GROUP BY kind, success, reason",
    )
    .all(cutoff) as { kind: string; success: number; reason: string; n: number }[];
  let total = 0;
  let success = 0;
  const failure_reasons: Record<string, number> = {};
  const refusals: Record<string, number> = {};
  for (const r of rows) {
    // A launch that failed for its node's reasons (full disk, broken agent, lost reply) is that
    // node's breaker's business: counted in the fleet-wide rate, one bad node could gate them all.
    if (r.kind === "refusal" || r.reason === "node_failed") {
      refusals[r.reason || "unknown"] = (refusals[r.reason || "unknown"] ?? 0) + r.n;
      continue;
    }
    total += r.n;
    if (r.success) success += r.n;
    else failure_reasons[r.reason || "unknown"] = (failure_reasons[r.reason || "unknown"] ?? 0) + r.n;
  }
  return {
    total,
    success,
    failed: total - success,
    rate: total > 0 ? success / total : null,
    failure_reasons,
    refusals,
    window_s: Math.round(windowMs / 1000),
  };
}

/** Keep the table small: events older than the window are of no use to the gate. */
export function pruneDispatchEvents(db: Db, before: number): number {
  return db.query("DELETE FROM dispatch_events WHERE ts < ?").run(before).changes;
}

export function recentDispatchEvents(db: Db, limit = 20) {
  return db.query("SELECT * FROM dispatch_events ORDER BY id DESC LIMIT ?").all(limit) as {
    id: number;
    ts: number;
    kind: string;
    success: number;
    reason: string | null;
    task_id: string | null;
    node: string | null;
  }[];
}
