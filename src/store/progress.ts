import { ACTIVE_RUN_STATES, sqlIn } from "../dispatch/states.ts";
import type { Db } from "./db.ts";

/** What `oyster run --until-done` shows each second: tasks by state and what runs where. */
export interface Progress {
  counts: Record<string, number>;
  running: { node: string; task_id: string; started_at: number | null }[];
}

export function progress(db: Db): Progress {
  const counts: Record<string, number> = {};
  for (const r of db.query("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status").all() as {
    status: string;
    n: number;
  }[])
    counts[r.status] = r.n;
  const running = db
    .query(
      `SELECT node, task_id, started_at FROM runs WHERE state IN ${sqlIn(ACTIVE_RUN_STATES)} ORDER BY node, created_at`,
    )
    .all() as Progress["running"];
  return { counts, running };
}

/** Nothing left that could still change without an operator. */
export function isSettled(p: Progress): boolean {
  return !["pending", "dispatched", "running", "failed"].some((s) => (p.counts[s] ?? 0) > 0);
}

/** What `run --until-done` reports when it ends: the tasks that did not succeed, and why. */
export interface Endings {
  dead: { task_id: string; last_reason: string | null; attempts: number; max_attempts: number }[];
  blocked: { task_id: string; blocked_by: string | null; blocker_status: string | null }[];
  cancelled: string[];
}

export function endings(db: Db): Endings {
  return {
    dead: db
      .query(
        "SELECT task_id, last_reason, attempts, max_attempts FROM tasks WHERE status = 'dead' ORDER BY task_id",
      )
      .all() as Endings["dead"],
    blocked: db
      .query(
        `SELECT t.task_id, t.blocked_by, u.status AS blocker_status FROM tasks t
         LEFT JOIN tasks u ON u.task_id = t.blocked_by WHERE t.status = 'blocked' ORDER BY t.task_id`,
      )
      .all() as Endings["blocked"],
    cancelled: (
      db.query("SELECT task_id FROM tasks WHERE status = 'cancelled' ORDER BY task_id").all() as {
        task_id: string;
      }[]
    ).map((r) => r.task_id),
  };
}
