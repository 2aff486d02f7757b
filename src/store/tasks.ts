import {
  ACTIVE_RUN_STATES,
  FINAL_TASK_STATUSES,
  isIn,
  RETRYABLE_TASK_STATUSES,
  sqlIn,
  TASK_STATUSES,
  type TaskStatus,
} from "../dispatch/states.ts";
import type { TaskSpec } from "../spec/parse.ts";
import type { Db } from "./db.ts";
import { recordEvent } from "./events.ts";
import { blockDependents, unblockTasks } from "./healing.ts";
import { type RunRow, runsOfTask } from "./runs.ts";
import { whereGiven } from "./where.ts";

// Re-exported where the CLI and the server have always found them; defined in dispatch/states.ts.
export { TASK_STATUSES, type TaskStatus } from "../dispatch/states.ts";

export interface TaskRow {
  task_id: string;
  project: string;
  priority: number;
  estimated_minutes: number | null;
  executor: string;
  command: string | null;
  body: string;
  source: string | null;
  timeout_ms: number | null;
  max_attempts: number;
  status: TaskStatus;
  attempts: number;
  not_before: number;
  last_reason: string | null;
  blocked_by: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  /** The spec's `x-…` keys as JSON text, or null. */
  extra: string | null;
  /** The spec's own max_attempts (null: it took the config default); auto_revive never passes it. */
  own_max_attempts: number | null;
  /** A cancel asked for while a run was active, not yet carried out on the node. */
  cancel_requested_at: number | null;
  /** Times the guardian revived it (retry.auto_revive). */
  revivals: number;
}

type SpecValue = string | number | null;

/**
 * What a spec sets, column by column: the one list insert and replace (store/replace.ts) both
 * write, so the two cannot drift apart (a replaced task takes the new spec's own_max_attempts).
 */
const SPEC_FIELDS: readonly (readonly [string, (s: TaskSpec, defaultMaxAttempts: number) => SpecValue])[] = [
  ["project", (s) => s.project],
  ["priority", (s) => s.priority],
  ["estimated_minutes", (s) => s.estimated_minutes],
  ["executor", (s) => s.executor],
  ["command", (s) => s.command],
  ["body", (s) => s.body],
  ["source", (s) => s.source],
  ["timeout_ms", (s) => s.timeout_ms],
  ["max_attempts", (s, d) => s.max_attempts ?? d],
  // The spec's own number (null: the config default), the cap auto_revive never passes.
  ["own_max_attempts", (s) => s.max_attempts ?? null],
  ["extra", (s) => (s.extra ? JSON.stringify(s.extra) : null)],
];

export const SPEC_COLUMNS = SPEC_FIELDS.map(([column]) => column);

/** The values of SPEC_COLUMNS for one spec, in the same order. */
export function specValues(s: TaskSpec, defaultMaxAttempts: number): SpecValue[] {
  return SPEC_FIELDS.map(([, value]) => value(s, defaultMaxAttempts));
}

/** Records a spec's `depends_on` and `modifies` edges (the caller clears old ones first). */
export function specEdgeWriter(db: Db): (s: TaskSpec) => void {
  const dep = db.query("INSERT OR IGNORE INTO task_deps (task_id, depends_on) VALUES (?, ?)");
  const path = db.query("INSERT OR IGNORE INTO task_paths (task_id, path) VALUES (?, ?)");
  return (s) => {
    for (const d of s.depends_on) dep.run(s.task_id, d);
    for (const p of s.modifies) path.run(s.task_id, p);
  };
}

/** Insert a validated batch; call inside store.tx so it lands whole or not at all. */
export function insertTasks(db: Db, specs: TaskSpec[], defaultMaxAttempts: number, now: number): void {
  const task = db.query(
    `INSERT INTO tasks (task_id, ${SPEC_COLUMNS.join(", ")}, created_at, updated_at)
     VALUES (?, ${SPEC_COLUMNS.map(() => "?").join(", ")}, ?, ?)`,
  );
  const edges = specEdgeWriter(db);
  for (const s of specs) {
    task.run(s.task_id, ...specValues(s, defaultMaxAttempts), now, now);
    edges(s);
  }
}

/** Which of `ids` exist. Chunked so a 10k batch stays within SQLite's parameter limit. */
export function existingTaskIds(db: Db, ids: string[]): Set<string> {
  const found = new Set<string>();
  for (let i = 0; i < ids.length; i += 500) {
    const chunk = ids.slice(i, i + 500);
    const rows = db
      .query(`SELECT task_id FROM tasks WHERE task_id IN (${chunk.map(() => "?").join(",")})`)
      .all(...chunk) as { task_id: string }[];
    for (const r of rows) found.add(r.task_id);
  }
  return found;
}

export function taskDeps(db: Db, ids: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const q = db.query("SELECT depends_on FROM task_deps WHERE task_id = ?");
  for (const id of ids)
    out.set(
      id,
      (q.all(id) as { depends_on: string }[]).map((r) => r.depends_on),
    );
  return out;
}

export interface TaskListItem extends TaskRow {
  node: string | null;
}

export function listTasks(
  db: Db,
  opts: { status?: string; project?: string; limit?: number } = {},
): TaskListItem[] {
  const where = whereGiven([
    ["t.status = ?", opts.status],
    ["t.project = ?", opts.project],
  ]);
  return db
    .query(
      `SELECT t.*, (SELECT r.node FROM runs r WHERE r.task_id = t.task_id ORDER BY r.attempt DESC LIMIT 1) AS node
       FROM tasks t ${where.sql}
       ORDER BY t.priority, t.created_at, t.rowid LIMIT ?`,
    )
    .all(...where.params, opts.limit ?? 1000) as TaskListItem[];
}

export interface TaskDetail extends Omit<TaskRow, "extra"> {
  /** The spec's `x-…` keys ({} when none). */
  extra: Record<string, unknown>;
  depends_on: { task_id: string; status: string | null }[];
  modifies: string[];
  runs: RunRow[];
}

export function getTask(db: Db, id: string): TaskDetail | null {
  const t = db.query("SELECT * FROM tasks WHERE task_id = ?").get(id) as TaskRow | null;
  if (!t) return null;
  const deps = db
    .query(
      "SELECT d.depends_on AS task_id, u.status AS status FROM task_deps d LEFT JOIN tasks u ON u.task_id = d.depends_on WHERE d.task_id = ? ORDER BY d.depends_on",
    )
    .all(id) as { task_id: string; status: string | null }[];
  const paths = db.query("SELECT path FROM task_paths WHERE task_id = ? ORDER BY path").all(id) as {
    path: string;
  }[];
  return {
    ...t,
    extra: t.extra ? (JSON.parse(t.extra) as Record<string, unknown>) : {},
    depends_on: deps,
    modifies: paths.map((p) => p.path),
    runs: runsOfTask(db, id),
  };
}

export function countByStatus(db: Db): Record<TaskStatus, number> {
  const out = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
  for (const r of db.query("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status").all() as {
    status: TaskStatus;
    n: number;
  }[])
    out[r.status] = r.n;
  return out;
}

export type TaskChange =
  | {
      ok: true;
      from: string;
      /** `cancelling`: a run is active; the controller kills it, then the task is cancelled. */
      to: "cancelled" | "cancelling" | "pending";
      /** The node a cancelling task's run is on. */
      node?: string;
    }
  /** `not_found`: no such task; `conflict`: the task's state does not allow the change. */
  | { ok: false; code: "not_found" | "conflict"; error: string };

/**
 * Cancel a task that has not finished. Without an active run it is cancelled now, and its
 * dependents blocked in the same transaction. With one, the cancel is requested: the running
 * controller kills the run on its node at its next scheduler tick (src/loops/cancel.ts) and
 * only then marks the task cancelled, so `cancelled` always means the kill was sent.
 */
export function cancelTask(db: Db, id: string, now: number, source = "cli"): TaskChange {
  const t = db.query("SELECT status, cancel_requested_at FROM tasks WHERE task_id = ?").get(id) as {
    status: string;
    cancel_requested_at: number | null;
  } | null;
  if (!t) return { ok: false, code: "not_found", error: `no task named "${id}"` };
  if (isIn(FINAL_TASK_STATUSES, t.status)) {
    return { ok: false, code: "conflict", error: `task "${id}" is already final (${t.status})` };
  }
  const run = db
    .query(
      `SELECT node FROM runs WHERE task_id = ? AND state IN ${sqlIn(ACTIVE_RUN_STATES)} ORDER BY attempt DESC LIMIT 1`,
    )
    .get(id) as { node: string } | null;
  if (run) {
    if (t.cancel_requested_at === null) {
      db.query("UPDATE tasks SET cancel_requested_at = ?, updated_at = ? WHERE task_id = ?").run(
        now,
        now,
        id,
      );
      recordEvent(
        db,
        { kind: "task_cancel_requested", source, task_id: id, node: run.node, data: { from: t.status } },
        now,
      );
    }
    return { ok: true, from: t.status, to: "cancelling", node: run.node };
  }
  db.query("UPDATE tasks SET status = 'cancelled', updated_at = ?, finished_at = ? WHERE task_id = ?").run(
    now,
    now,
    id,
  );
  recordEvent(db, { kind: "task_cancelled", source, task_id: id, data: { from: t.status } }, now);
  blockDependents(db, id, now, source);
  return { ok: true, from: t.status, to: "cancelled" };
}

/**
 * failed / dead / cancelled / blocked → pending, with one more attempt allowed; succeeded →
 * pending too (a rerun, issue 13.3: its dependents that already succeeded stay succeeded).
 */
export function retryTask(db: Db, id: string, now: number): TaskChange {
  const t = db.query("SELECT status, attempts, max_attempts FROM tasks WHERE task_id = ?").get(id) as {
    status: string;
    attempts: number;
    max_attempts: number;
  } | null;
  if (!t) return { ok: false, code: "not_found", error: `no task named "${id}"` };
  if (!isIn(RETRYABLE_TASK_STATUSES, t.status)) {
    return {
      ok: false,
      code: "conflict",
      error: `task "${id}" is ${t.status}; only failed, dead, cancelled, blocked or succeeded tasks can be retried`,
    };
  }
  db.query(
    `UPDATE tasks SET status = 'pending', not_before = 0, blocked_by = NULL, finished_at = NULL, updated_at = ?,
       cancel_requested_at = NULL, max_attempts = MAX(max_attempts, attempts + 1) WHERE task_id = ?`,
  ).run(now, id);
  recordEvent(db, { kind: "task_retried", source: "cli", task_id: id, data: { from: t.status } }, now);
  // Its dependents blocked on it wait again now, not at the guardian's next cycle.
  unblockTasks(db, now);
  return { ok: true, from: t.status, to: "pending" };
}
