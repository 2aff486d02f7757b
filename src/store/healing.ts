import { revivalsLeft } from "../dispatch/run-end.ts";
import {
  ACTIVE_RUN_STATES,
  HOPELESS_TASK_STATUSES,
  IN_FLIGHT_TASK_STATUSES,
  sqlIn,
} from "../dispatch/states.ts";
import type { Db } from "./db.ts";
import { recordEvent } from "./events.ts";

/**
 * The reaper's and the guardian's store side: short, indexed statements, each meant to run
 * inside one `store.tx` between node I/O. Decisions about runs live in src/dispatch/reconcile.ts.
 */

const ACTIVE = sqlIn(ACTIVE_RUN_STATES);
/** A dependency in one of these states will never succeed on its own: its dependents are blocked. */
const HOPELESS = sqlIn(HOPELESS_TASK_STATUSES);

export interface CandidateRun {
  run_id: string;
  task_id: string;
  node: string;
  state: (typeof ACTIVE_RUN_STATES)[number];
  created_at: number;
  started_at: number | null;
  timeout_ms: number | null;
  task_status: string;
}

/** Active runs (optionally of one node) with their task's status. */
export function activeRunsWithTask(db: Db, node?: string): CandidateRun[] {
  // A requested cancel reads as cancelled here, so the reaper stops the run if the canceller could not.
  const sql = `SELECT r.run_id, r.task_id, r.node, r.state, r.created_at, r.started_at, r.timeout_ms,
      CASE WHEN t.cancel_requested_at IS NOT NULL THEN 'cancelled' ELSE t.status END AS task_status
    FROM runs r JOIN tasks t ON t.task_id = r.task_id
    WHERE r.state IN ${ACTIVE}${node ? " AND r.node = ?" : ""} ORDER BY r.created_at`;
  return (node ? db.query(sql).all(node) : db.query(sql).all()) as CandidateRun[];
}

/** Active runs whose task's cancel was requested (`tasks cancel`, the API): the canceller's work. */
export function cancelRequestedRuns(db: Db): { run_id: string; task_id: string; node: string }[] {
  return db
    .query(
      `SELECT r.run_id, r.task_id, r.node FROM tasks t JOIN runs r ON r.task_id = t.task_id
       WHERE t.cancel_requested_at IS NOT NULL AND t.status IN ${sqlIn(IN_FLIGHT_TASK_STATUSES)}
         AND r.state IN ${ACTIVE} ORDER BY t.cancel_requested_at`,
    )
    .all() as { run_id: string; task_id: string; node: string }[];
}

/** Leases and file locks whose run is no longer active (a crash between two writes). */
export function cleanupStaleClaims(db: Db): { leases: number; locks: number } {
  const leases = db
    .query(`DELETE FROM leases WHERE run_id NOT IN (SELECT run_id FROM runs WHERE state IN ${ACTIVE})`)
    .run().changes;
  const locks = db
    .query(`DELETE FROM file_locks WHERE run_id NOT IN (SELECT run_id FROM runs WHERE state IN ${ACTIVE})`)
    .run().changes;
  return { leases, locks };
}

/**
 * A task that is dispatched or running but holds no lease has no run that will ever finish it
 * (the controller died between writes): put it back to pending.
 */
export function requeueOrphanedTasks(db: Db, now: number): string[] {
  const ids = (
    db
      .query(
        `SELECT task_id FROM tasks WHERE status IN ${sqlIn(IN_FLIGHT_TASK_STATUSES)} AND task_id NOT IN (SELECT task_id FROM leases)`,
      )
      .all() as { task_id: string }[]
  ).map((r) => r.task_id);
  const up = db.query("UPDATE tasks SET status = 'pending', updated_at = ? WHERE task_id = ?");
  for (const id of ids) {
    up.run(now, id);
    recordEvent(
      db,
      { kind: "task_requeued", source: "reaper", task_id: id, data: { why: "no active run" } },
      now,
    );
  }
  return ids;
}

/** nodes.running from the runs themselves; returns the nodes whose count was wrong. */
export function syncRunningCounts(db: Db): number {
  return db
    .query(
      `UPDATE nodes SET running = (SELECT COUNT(*) FROM runs r WHERE r.node = nodes.name AND r.state IN ${ACTIVE})
       WHERE running <> (SELECT COUNT(*) FROM runs r WHERE r.node = nodes.name AND r.state IN ${ACTIVE})`,
    )
    .run().changes;
}

export interface OverdueRun {
  run_id: string;
  task_id: string;
  node: string;
  /** When the controller launched it, on the controller's clock. */
  created_at: number;
  started_at: number | null;
  alerted_at: number | null;
}

/**
 * Running runs launched before `before` (the controller's clock, never the node's started_at)
 * and never alerted on (partial index runs_alert).
 */
export function unalertedRunsLaunchedBefore(db: Db, before: number): OverdueRun[] {
  return db
    .query(
      `SELECT run_id, task_id, node, created_at, started_at, alerted_at FROM runs
       WHERE state = 'running' AND alerted_at IS NULL AND created_at < ?`,
    )
    .all(before) as OverdueRun[];
}

export function markAlerted(db: Db, runId: string, now: number): boolean {
  return (
    db.query("UPDATE runs SET alerted_at = ? WHERE run_id = ? AND alerted_at IS NULL").run(now, runId)
      .changes > 0
  );
}

/**
 * Pending tasks with a dependency that is dead, cancelled or itself blocked become blocked,
 * naming it; repeated until nothing changes so a whole chain is blocked in one pass.
 */
export function blockHopelessTasks(db: Db, now: number): { task_id: string; blocked_by: string }[] {
  const find = db.query(
    `SELECT d.task_id, MIN(d.depends_on) AS blocked_by FROM task_deps d
       JOIN tasks t ON t.task_id = d.task_id AND t.status = 'pending'
       JOIN tasks u ON u.task_id = d.depends_on AND u.status IN ${HOPELESS}
     GROUP BY d.task_id`,
  );
  const up = db.query(
    "UPDATE tasks SET status = 'blocked', blocked_by = ?, updated_at = ? WHERE task_id = ? AND status = 'pending'",
  );
  const out: { task_id: string; blocked_by: string }[] = [];
  for (;;) {
    const rows = find.all() as { task_id: string; blocked_by: string }[];
    if (rows.length === 0) return out;
    for (const r of rows) {
      up.run(r.blocked_by, now, r.task_id);
      recordEvent(
        db,
        { kind: "task_blocked", source: "guardian", task_id: r.task_id, data: { blocked_by: r.blocked_by } },
        now,
      );
      out.push(r);
    }
  }
}

/**
 * The pending tasks downstream of `taskId`, which just became dead or cancelled, become blocked
 * now, in the caller's transaction, each naming the dependency it waits on; so nothing waits a
 * guardian cycle to learn that it can never run, and `run --until-done` can end at once.
 * Walks the reverse dependency index (task_deps_rev), so it costs the size of the chain.
 */
export function blockDependents(
  db: Db,
  taskId: string,
  now: number,
  source: string,
): { task_id: string; blocked_by: string }[] {
  const find = db.query(
    `SELECT d.task_id FROM task_deps d JOIN tasks t ON t.task_id = d.task_id
     WHERE d.depends_on = ? AND t.status = 'pending' ORDER BY d.task_id`,
  );
  const up = db.query(
    "UPDATE tasks SET status = 'blocked', blocked_by = ?, updated_at = ? WHERE task_id = ? AND status = 'pending'",
  );
  const out: { task_id: string; blocked_by: string }[] = [];
  const frontier = [taskId];
  for (let cause = frontier.pop(); cause !== undefined; cause = frontier.pop()) {
    for (const r of find.all(cause) as { task_id: string }[]) {
      if (up.run(cause, now, r.task_id).changes === 0) continue;
      recordEvent(db, { kind: "task_blocked", source, task_id: r.task_id, data: { blocked_by: cause } }, now);
      out.push({ task_id: r.task_id, blocked_by: cause });
      frontier.push(r.task_id);
    }
  }
  return out;
}

/** Blocked tasks none of whose dependencies is hopeless any more (a retried dependency) wait again. */
export function unblockTasks(db: Db, now: number): string[] {
  const find = db.query(
    `SELECT t.task_id FROM tasks t WHERE t.status = 'blocked' AND NOT EXISTS (
       SELECT 1 FROM task_deps d JOIN tasks u ON u.task_id = d.depends_on
       WHERE d.task_id = t.task_id AND u.status IN ${HOPELESS})`,
  );
  const up = db.query(
    "UPDATE tasks SET status = 'pending', blocked_by = NULL, updated_at = ? WHERE task_id = ? AND status = 'blocked'",
  );
  const out: string[] = [];
  for (;;) {
    const rows = find.all() as { task_id: string }[];
    if (rows.length === 0) return out;
    for (const r of rows) {
      up.run(now, r.task_id);
      out.push(r.task_id);
    }
  }
}

/** Pending tasks waiting on ids that exist nowhere (submitted with --allow-missing-deps). */
export function missingDependencies(db: Db): { task_id: string; depends_on: string }[] {
  return db
    .query(
      `SELECT d.task_id, d.depends_on FROM task_deps d
         JOIN tasks t ON t.task_id = d.task_id AND t.status = 'pending'
         LEFT JOIN tasks u ON u.task_id = d.depends_on
       WHERE u.task_id IS NULL ORDER BY d.task_id`,
    )
    .all() as { task_id: string; depends_on: string }[];
}

/**
 * Dead tasks whose last failure is worth another try (`reasons`: the recoverable ones) get one
 * more attempt, at most `limit` times per task, and never past the spec's own `max_attempts`:
 * a task that says `max_attempts: 1` runs once. Only tasks on the config default are revived
 * beyond it (the default is the operator's guess, the spec's number is the author's promise).
 */
export function reviveDeadTasks(db: Db, reasons: readonly string[], limit: number, now: number): string[] {
  const rows = revivable(db, reasons, limit);
  const up = db.query(
    `UPDATE tasks SET status = 'pending', not_before = 0, finished_at = NULL, revivals = revivals + 1,
       max_attempts = MIN(attempts + 1, COALESCE(own_max_attempts, attempts + 1)), updated_at = ?
     WHERE task_id = ? AND status = 'dead'`,
  );
  for (const r of rows) {
    up.run(now, r.task_id);
    recordEvent(
      db,
      { kind: "task_auto_retried", source: "guardian", task_id: r.task_id, data: { reason: r.last_reason } },
      now,
    );
  }
  return rows.map((r) => r.task_id);
}

/** The dead tasks reviveDeadTasks would revive now: `run --until-done` waits for them. */
export function revivable(
  db: Db,
  reasons: readonly string[],
  limit: number,
): { task_id: string; last_reason: string }[] {
  if (limit <= 0 || reasons.length === 0) return [];
  const marks = reasons.map(() => "?").join(",");
  // `revivals < limit` only narrows the rows; revivalsLeft decides.
  const dead = db
    .query(
      `SELECT task_id, last_reason, own_max_attempts, revivals, attempts, max_attempts FROM tasks
       WHERE status = 'dead' AND revivals < ? AND last_reason IN (${marks})`,
    )
    .all(limit, ...reasons) as {
    task_id: string;
    last_reason: string;
    own_max_attempts: number | null;
    revivals: number;
    attempts: number;
    max_attempts: number;
  }[];
  return dead
    .filter((t) => revivalsLeft(t, limit) > 0)
    .map((t) => ({ task_id: t.task_id, last_reason: t.last_reason }));
}

export function pendingCount(db: Db): number {
  return (db.query("SELECT COUNT(*) AS n FROM tasks WHERE status = 'pending'").get() as { n: number }).n;
}

/**
 * Projects whose every task has succeeded and whose completion was not announced since their
 * newest task arrived. Records the announcement in the same call, so it happens once.
 */
export function newlyCompletedProjects(db: Db, now: number): { project: string; tasks: number }[] {
  const rows = db
    .query(
      `SELECT t.project, COUNT(*) AS tasks, MAX(t.created_at) AS newest FROM tasks t
       WHERE t.project <> ''
       GROUP BY t.project
       HAVING SUM(t.status <> 'succeeded') = 0
         AND COALESCE((SELECT completed_at FROM projects p WHERE p.name = t.project), -1) < MAX(t.created_at)`,
    )
    .all() as { project: string; tasks: number; newest: number }[];
  const up = db.query(
    "INSERT INTO projects (name, completed_at) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET completed_at = excluded.completed_at",
  );
  for (const r of rows) {
    up.run(r.project, Math.max(now, r.newest));
    recordEvent(
      db,
      { kind: "project_complete", source: "factory", data: { project: r.project, tasks: r.tasks } },
      now,
    );
  }
  return rows.map((r) => ({ project: r.project, tasks: r.tasks }));
}
