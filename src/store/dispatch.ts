import type { NodeView, ReadyTask } from "../dispatch/placement.ts";
import { ACTIVE_RUN_STATES, sqlIn, UNLUCKY_RUN_STATES } from "../dispatch/states.ts";
import type { Db } from "./db.ts";
import { listNodes } from "./nodes.ts";

/**
 * Queries behind one scheduler decision. Ready = pending, past its retry backoff, every
 * dependency succeeded; ordered by priority (0 first), then age. The LIMIT keeps a tick cheap
 * with 100k pending tasks: the status index yields rows in order and the scan stops early.
 */
export function readyTasks(db: Db, now: number, limit: number): ReadyTask[] {
  const rows = db
    .query(
      `SELECT t.task_id, t.executor, t.project,
         (SELECT r.node FROM runs r WHERE r.task_id = t.task_id AND r.state IN ${sqlIn(UNLUCKY_RUN_STATES)}
          ORDER BY r.attempt DESC LIMIT 1) AS avoid
       FROM tasks t
       WHERE t.status = 'pending' AND t.not_before <= ?
         AND NOT EXISTS (
           SELECT 1 FROM task_deps d LEFT JOIN tasks u ON u.task_id = d.depends_on
           WHERE d.task_id = t.task_id AND (u.status IS NULL OR u.status <> 'succeeded'))
       ORDER BY t.priority, t.created_at, t.rowid
       LIMIT ?`,
    )
    .all(now, limit) as { task_id: string; executor: string; project: string; avoid: string | null }[];
  if (rows.length === 0) return [];
  const paths = new Map<string, string[]>();
  const q = db.query("SELECT path FROM task_paths WHERE task_id = ?");
  for (const r of rows)
    paths.set(
      r.task_id,
      (q.all(r.task_id) as { path: string }[]).map((p) => p.path),
    );
  return rows.map((r) => ({
    task_id: r.task_id,
    executor: r.executor,
    project: r.project,
    paths: paths.get(r.task_id) ?? [],
    avoid: r.avoid,
  }));
}

export function lockedPaths(db: Db): Set<string> {
  return new Set((db.query("SELECT path FROM file_locks").all() as { path: string }[]).map((r) => r.path));
}

export function leasedTasks(db: Db): Set<string> {
  return new Set(
    (db.query("SELECT task_id FROM leases").all() as { task_id: string }[]).map((r) => r.task_id),
  );
}

/** Running counts come from the runs themselves (the truth), not from a counter. */
export function activeRunsByNode(db: Db): Map<string, number> {
  const rows = db
    .query(`SELECT node, COUNT(*) AS n FROM runs WHERE state IN ${sqlIn(ACTIVE_RUN_STATES)} GROUP BY node`)
    .all() as { node: string; n: number }[];
  return new Map(rows.map((r) => [r.node, r.n]));
}

export function nodeViews(db: Db): NodeView[] {
  const running = activeRunsByNode(db);
  return listNodes(db).map((r) => ({
    name: r.name,
    slots: r.slots,
    running: running.get(r.name) ?? 0,
    online: r.online === 1,
    draining: r.draining === 1,
    executors: r.executors ? (JSON.parse(r.executors) as string[]) : null,
    resources:
      r.last_probe_at === null
        ? null
        : {
            load1: r.load1,
            load5: r.load5,
            load15: r.load15,
            mem_avail_mb: r.mem_avail_mb,
            swap_pct: r.swap_pct,
          },
  }));
}

export interface LaunchTask {
  task_id: string;
  project: string;
  priority: number;
  executor: string;
  command: string | null;
  body: string;
  estimated_minutes: number | null;
  timeout_ms: number | null;
  attempts: number;
  depends_on: string[];
  modifies: string[];
}

/** What a launch needs to build the spec and the executor argv. */
export function launchTask(db: Db, taskId: string): LaunchTask | null {
  const t = db
    .query(
      "SELECT task_id, project, priority, executor, command, body, estimated_minutes, timeout_ms, attempts FROM tasks WHERE task_id = ?",
    )
    .get(taskId) as Omit<LaunchTask, "depends_on" | "modifies"> | null;
  if (!t) return null;
  const deps = db.query("SELECT depends_on FROM task_deps WHERE task_id = ?").all(taskId) as {
    depends_on: string;
  }[];
  const paths = db.query("SELECT path FROM task_paths WHERE task_id = ?").all(taskId) as { path: string }[];
  return { ...t, depends_on: deps.map((d) => d.depends_on), modifies: paths.map((p) => p.path) };
}
