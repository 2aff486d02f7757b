import { ACTIVE_RUN_STATES, sqlIn } from "../dispatch/states.ts";
import type { TaskSpec } from "../spec/parse.ts";
import type { Db } from "./db.ts";
import { recordEvent } from "./events.ts";
import { unblockTasks } from "./healing.ts";
import { SPEC_COLUMNS, specEdgeWriter, specValues } from "./tasks.ts";

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
  // A replaced task starts afresh: the new spec's own max_attempts, no attempts, no revivals.
  const update = db.query(
    `UPDATE tasks SET ${SPEC_COLUMNS.map((c) => `${c} = ?`).join(", ")}, status = 'pending', attempts = 0, revivals = 0,
       not_before = 0, last_reason = NULL, blocked_by = NULL, finished_at = NULL, updated_at = ?
     WHERE task_id = ?`,
  );
  const dropDeps = db.query("DELETE FROM task_deps WHERE task_id = ?");
  const dropPaths = db.query("DELETE FROM task_paths WHERE task_id = ?");
  const edges = specEdgeWriter(db);
  for (const s of specs) {
    const from = (before.get(s.task_id) as { status: string } | null)?.status ?? null;
    update.run(...specValues(s, defaultMaxAttempts), now, s.task_id);
    dropDeps.run(s.task_id);
    dropPaths.run(s.task_id);
    edges(s);
    recordEvent(db, { kind: "task_replaced", source: origin, task_id: s.task_id, data: { from } }, now);
  }
  return unblockTasks(db, now);
}
