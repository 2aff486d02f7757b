import type { Db } from "./db.ts";
import { whereGiven } from "./where.ts";

/** The operator-facing event log (`oyster status`, /api/events): transitions, alerts, reaps. */
export interface EventInput {
  kind: string;
  source: string;
  task_id?: string | null;
  run_id?: string | null;
  node?: string | null;
  data?: Record<string, unknown>;
}

export interface EventRow {
  id: number;
  ts: number;
  kind: string;
  source: string;
  task_id: string | null;
  run_id: string | null;
  node: string | null;
  data: string | null;
}

export function recordEvent(db: Db, e: EventInput, now = Date.now()): void {
  db.query(
    "INSERT INTO events (ts, kind, source, task_id, run_id, node, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
  ).run(
    now,
    e.kind,
    e.source,
    e.task_id ?? null,
    e.run_id ?? null,
    e.node ?? null,
    e.data ? JSON.stringify(e.data) : null,
  );
}

/** Newest first; `before` pages by id. */
export function listEvents(
  db: Db,
  opts: { limit?: number; before?: number; kind?: string; task_id?: string } = {},
): EventRow[] {
  const where = whereGiven([
    ["id < ?", opts.before],
    ["kind = ?", opts.kind],
    ["task_id = ?", opts.task_id],
  ]);
  const limit = Math.min(Math.max(opts.limit ?? 50, 1), 1000);
  return db
    .query(`SELECT * FROM events ${where.sql} ORDER BY id DESC LIMIT ?`)
    .all(...where.params, limit) as EventRow[];
}
