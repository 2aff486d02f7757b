import type { OverloadCause, Reason } from "../dispatch/reasons.ts";
import { foldWindow, windowCutoff } from "../dispatch/stats.ts";
import type { DispatchEventRow, WindowReport } from "../dispatch/stats-view.ts";
import type { Db } from "./db.ts";
import { recordEvent } from "./events.ts";

export interface DispatchEventInput {
  kind: "launch" | "refusal";
  success: boolean;
  reason?: Reason | null;
  task_id?: string | null;
  node?: string | null;
  /** server_overloaded only: which threshold the node was over. */
  cause?: OverloadCause | null;
  /** A successful launch: the run and its attempt, for the `task_dispatched` event. */
  run_id?: string | null;
  attempt?: number | null;
}

/**
 * One dispatch decision. A successful launch is also a `task_dispatched` event in the operator
 * log (seeds/004 emit('task_dispatched')), written here so that every launch that counts in the
 * stats has its event, in the same transaction.
 */
export function recordDispatch(db: Db, e: DispatchEventInput, now = Date.now()): void {
  db.query(
    "INSERT INTO dispatch_events (ts, kind, success, reason, task_id, node, cause) VALUES (?, ?, ?, ?, ?, ?, ?)",
  ).run(now, e.kind, e.success ? 1 : 0, e.reason ?? null, e.task_id ?? null, e.node ?? null, e.cause ?? null);
  if (e.kind === "launch" && e.success)
    recordEvent(
      db,
      {
        kind: "task_dispatched",
        source: "scheduler",
        task_id: e.task_id,
        run_id: e.run_id,
        node: e.node,
        data: { attempt: e.attempt ?? null },
      },
      now,
    );
}

/** The window by indexed query, grouped in SQL and folded by the pure definition (dispatch/stats.ts). */
export function windowStats(db: Db, now: number, windowMs: number): WindowReport {
  const groups = db
    .query(
      `SELECT kind, success, reason, cause, COUNT(*) AS n
       FROM dispatch_events WHERE ts >= ? GROUP BY kind, success, reason, cause`,
    )
    .all(windowCutoff(now, windowMs)) as {
    kind: string;
    success: number;
    reason: string | null;
    cause: string | null;
    n: number;
  }[];
  return {
    ...foldWindow(groups.map((g) => ({ ...g, success: g.success === 1 }))),
    window_s: Math.round(windowMs / 1000),
  };
}

/** Keep the table small: events older than the window are of no use to the gate. */
export function pruneDispatchEvents(db: Db, before: number): number {
  return db.query("DELETE FROM dispatch_events WHERE ts < ?").run(before).changes;
}

/** Newest first (by id: rows are appended in decision order, whatever the clock did). */
export function recentDispatchEvents(db: Db, limit = 20): DispatchEventRow[] {
  return db.query("SELECT * FROM dispatch_events ORDER BY id DESC LIMIT ?").all(limit) as DispatchEventRow[];
}

/** When the stats last changed (the newest decision), epoch ms; null with none recorded. */
export function lastDispatchAt(db: Db): number | null {
  const r = db.query("SELECT MAX(ts) AS ts FROM dispatch_events").get() as { ts: number | null } | null;
  return r?.ts ?? null;
}
