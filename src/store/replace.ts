import { ACTIVE_RUN_STATES, sqlIn } from "../dispatch/states.ts";
import type { TaskSpec } from "../spec/parse.ts";
import type { Db } from "./db.ts";
import { recordEvent } from "./events.ts";
import { unblockTasks } from "./healing.ts";

/**
 * `oyster submit --replace` (issue 13.3): a stored task that is not running gets the new spec
 * text under the same id. Its runs stay (history; the next run's number continues), the edges
 * of its dependents stay (they name its id), its own `depends_on` and `modifies` become the new
 * spec's, and it goes back to pending with its attempts reset: the new spec is a new job.
 */

/** What a replacement must know about a stored task: its status and any run still active. */
export interface StoredTaskState {
  status: string;
  active: { run_id: string; node: string; state: string } | null;
}

export function storedTaskStates(db: Db, ids: string[]): Map<string, StoredTaskState> {
  const out = new Map<string, StoredTaskState>();
  const task = db.query("SELECT status FROM tasks WHERE task_id = ?");
  const run = db.query(
    `SELECT run_id, node, state FROM runs WHERE task_id = ? AND state IN ${sqlIn(ACTIVE_RUN_STATES)}
     ORDER BY attempt DESC LIMIT 1`,
  );
  for (const id of ids) {
    const t = task.get(id) as { status: string } | null;
    if (!t) continue;
    out.set(id, {
      status: t.status,
      active: run.get(id) as StoredTaskState["active"],
    });
  }
  return out;
}

/**
 * Put new spec text on stored tasks (validated by the caller in this same transaction), send
 * them back to pending, and unblock dependents that waited on them. Returns the unblocked ids.
 */
export function replaceTasks(
  db: Db,
  specs: TaskSpec[],
  defaultMaxAttempts: number,
  now: number,
  origin: string,
): string[] {
  const before = db.query("SELECT status FROM tasks WHERE task_id = ?");
  const update = db.query(
    `UPDATE tasks SET project = ?, priority = ?, estimated_minutes = ?, executor = ?, command = ?, body = ?,
       source = ?, timeout_ms = ?, max_attempts = ?, extra = ?, status = 'pending', attempts = 0, not_before = 0,
       last_reason = NULL, blocked_by = NULL, finished_at = NULL, updated_at = ?
     WHERE task_id = ?`,
  );
  const dropDeps = db.query("DELETE FROM task_deps WHERE task_id = ?");
  const dropPaths = db.query("DELETE FROM task_paths WHERE task_id = ?");
  const dep = db.query("INSERT OR IGNORE INTO task_deps (task_id, depends_on) VALUES (?, ?)");
  const path = db.query("INSERT OR IGNORE INTO task_paths (task_id, path) VALUES (?, ?)");
  for (const s of specs) {
    const from = (before.get(s.task_id) as { status: string } | null)?.status ?? null;
    update.run(
      s.project,
      s.priority,
      s.estimated_minutes,
      s.executor,
      s.command,
      s.body,
      s.source,
      s.timeout_ms,
      s.max_attempts ?? defaultMaxAttempts,
      s.extra ? JSON.stringify(s.extra) : null,
      now,
      s.task_id,
    );
    dropDeps.run(s.task_id);
    dropPaths.run(s.task_id);
    for (const d of s.depends_on) dep.run(s.task_id, d);
    for (const p of s.modifies) path.run(s.task_id, p);
    recordEvent(db, { kind: "task_replaced", source: origin, task_id: s.task_id, data: { from } }, now);
  }
  return unblockTasks(db, now);
}
