import { PathLocks } from "../dispatch/paths.ts";
import { endReason, type RetryPolicy, type RunEnd, taskAfterRun } from "../dispatch/run-end.ts";
import {
  ACTIVE_RUN_STATES,
  IN_FLIGHT_TASK_STATUSES,
  isIn,
  type RunState,
  sqlIn,
} from "../dispatch/states.ts";
import type { Db } from "./db.ts";
import { recordEvent } from "./events.ts";
import { blockDependents } from "./healing.ts";

/**
 * Runs: one row per attempt. A run moves launching → running → (succeeded | failed | lost |
 * cancelled). Every transition here is one synchronous statement group meant to be called
 * inside `store.tx`, and every finishing transition is idempotent: it only acts while the run
 * still holds its task's lease, so a task reaches a final state exactly once even when the
 * agent's push and the reaper's sweep report the same end.
 */

export interface RunRow {
  run_id: string;
  task_id: string;
  node: string;
  attempt: number;
  state: RunState;
  pid: number | null;
  created_at: number;
  started_at: number | null;
  heartbeat_at: number | null;
  finished_at: number | null;
  exit_code: number | null;
  reason: string | null;
  timeout_ms: number | null;
  alerted_at: number | null;
}

export function newRunId(taskId: string, attempt: number, now = Date.now()): string {
  // The task id may hold anything; the run id must be a safe directory name on the node.
  const slug =
    taskId
      .replace(/[^A-Za-z0-9._-]+/g, "_")
      .replace(/^[._-]+/, "")
      .slice(0, 40) || "task";
  const rand = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);
  return `${slug}-a${attempt}-${now.toString(36)}${rand}`;
}

export type ClaimResult =
  | { ok: true; run: RunRow; attempt: number }
  | { ok: false; reason: "already_running" | "task_not_found" | "not_ready" | "files_locked" };

/**
 * The first launch transaction: check the task is still pending and unleased, create the run,
 * take the lease and the file locks, mark the task dispatched. Call inside store.tx.
 */
export function claimRun(
  db: Db,
  taskId: string,
  node: string,
  timeoutMs: number | null,
  now: number,
): ClaimResult {
  const task = db.query("SELECT status, attempts FROM tasks WHERE task_id = ?").get(taskId) as {
    status: string;
    attempts: number;
  } | null;
  if (!task) return { ok: false, reason: "task_not_found" };
  if (db.query("SELECT 1 FROM leases WHERE task_id = ?").get(taskId))
    return { ok: false, reason: "already_running" };
  if (task.status !== "pending") return { ok: false, reason: "not_ready" };
  const paths = db.query("SELECT path FROM task_paths WHERE task_id = ?").all(taskId) as { path: string }[];
  if (paths.length) {
    // Paths, not strings: the same file spelled twice, or a directory and a file under it, conflict.
    const held = new PathLocks(
      (db.query("SELECT path FROM file_locks").all() as { path: string }[]).map((r) => r.path),
    );
    if (paths.some((p) => held.conflicts(p.path))) return { ok: false, reason: "files_locked" };
  }
  const seq = (
    db.query("SELECT COALESCE(MAX(attempt), 0) + 1 AS n FROM runs WHERE task_id = ?").get(taskId) as {
      n: number;
    }
  ).n;
  const runId = newRunId(taskId, seq, now);
  db.query(
    "INSERT INTO runs (run_id, task_id, node, attempt, state, created_at, timeout_ms) VALUES (?, ?, ?, ?, 'launching', ?, ?)",
  ).run(runId, taskId, node, seq, now, timeoutMs);
  db.query("INSERT INTO leases (task_id, run_id, node, acquired_at) VALUES (?, ?, ?, ?)").run(
    taskId,
    runId,
    node,
    now,
  );
  const lock = db.query("INSERT INTO file_locks (path, run_id, task_id, acquired_at) VALUES (?, ?, ?, ?)");
  for (const p of paths) lock.run(p.path, runId, taskId, now);
  db.query("UPDATE tasks SET status = 'dispatched', updated_at = ? WHERE task_id = ?").run(now, taskId);
  db.query("UPDATE nodes SET running = running + 1 WHERE name = ?").run(node);
  return { ok: true, run: getRun(db, runId)!, attempt: task.attempts + 1 };
}

/** The node answered: status.json exists. The attempt now counts. */
export function markRunning(
  db: Db,
  runId: string,
  s: { pid: number | null; started_at: number; heartbeat_at: number },
  now: number,
): boolean {
  const run = getRun(db, runId);
  if (!run || !isIn(ACTIVE_RUN_STATES, run.state)) return false;
  if (run.state !== "running") {
    db.query(
      "UPDATE runs SET state = 'running', pid = ?, started_at = ?, heartbeat_at = ? WHERE run_id = ?",
    ).run(s.pid, s.started_at, s.heartbeat_at, runId);
    db.query(
      "UPDATE tasks SET status = 'running', attempts = attempts + 1, updated_at = ? WHERE task_id = ? AND status = 'dispatched'",
    ).run(now, run.task_id);
  } else {
    // The start reply says `starting` before the executor has a pid: record the group leader
    // once the node reports it, so a lost run's group can be named later.
    db.query(
      "UPDATE runs SET heartbeat_at = MAX(COALESCE(heartbeat_at, 0), ?), pid = COALESCE(pid, ?) WHERE run_id = ?",
    ).run(s.heartbeat_at, s.pid, runId);
  }
  return true;
}

/** Active runs on nodes that are offline, with when the node last answered (the dead-node policy's input). */
export function activeRunsOnOfflineNodes(
  db: Db,
): { run_id: string; task_id: string; node: string; created_at: number; last_seen_at: number | null }[] {
  return db
    .query(
      `SELECT r.run_id, r.task_id, r.node, r.created_at, n.last_seen_at FROM runs r JOIN nodes n ON n.name = r.node
       WHERE r.state IN ${sqlIn(ACTIVE_RUN_STATES)} AND n.online = 0`,
    )
    .all() as {
    run_id: string;
    task_id: string;
    node: string;
    created_at: number;
    last_seen_at: number | null;
  }[];
}

export interface FinishResult {
  task_status: string;
  task_id: string;
}

/**
 * End a run and move its task on, exactly once. Returns null when the run was already final
 * (or no longer holds the lease), so callers can report transitions without double counting.
 */
export function finishRun(
  db: Db,
  runId: string,
  end: RunEnd,
  policy: RetryPolicy,
  now: number,
): FinishResult | null {
  const run = getRun(db, runId);
  if (!run || !isIn(ACTIVE_RUN_STATES, run.state)) return null;
  // A run that ends (killed, lost…) after its task's cancel was asked for ended by the cancel,
  // and its task does not run again.
  const cancelAsked =
    end.state !== "succeeded" &&
    (
      db.query("SELECT cancel_requested_at AS c FROM tasks WHERE task_id = ?").get(run.task_id) as {
        c: number | null;
      } | null
    )?.c != null;
  if (cancelAsked) end = { ...end, state: "cancelled" };
  const reason = endReason(end);
  db.query("UPDATE runs SET state = ?, exit_code = ?, reason = ?, finished_at = ? WHERE run_id = ?").run(
    end.state,
    end.exit_code ?? null,
    reason,
    end.finished_at ?? now,
    runId,
  );
  const held = db.query("DELETE FROM leases WHERE run_id = ?").run(runId).changes > 0;
  db.query("DELETE FROM file_locks WHERE run_id = ?").run(runId);
  db.query("UPDATE nodes SET running = MAX(0, running - 1) WHERE name = ?").run(run.node);
  const task = db
    .query("SELECT status, attempts, max_attempts FROM tasks WHERE task_id = ?")
    .get(run.task_id) as {
    status: string;
    attempts: number;
    max_attempts: number;
  } | null;
  if (!task) return null;
  if (!held || !isIn(IN_FLIGHT_TASK_STATUSES, task.status)) {
    // Cancelled (or otherwise moved on) while it ran: the run ends, the task keeps its status.
    return { task_id: run.task_id, task_status: task.status };
  }
  const after = taskAfterRun(end, task, policy, now);
  const next = after.status;
  db.query(
    "UPDATE tasks SET status = ?, not_before = ?, last_reason = ?, updated_at = ?, finished_at = ? WHERE task_id = ?",
  ).run(
    next,
    after.notBefore,
    end.state === "succeeded" ? null : reason,
    now,
    after.final ? now : null,
    run.task_id,
  );
  if (after.blocksDependents) blockDependents(db, run.task_id, now, "controller");
  recordEvent(
    db,
    {
      kind: `run_${end.state}`,
      source: "controller",
      task_id: run.task_id,
      run_id: runId,
      node: run.node,
      data: { exit_code: end.exit_code ?? null, reason, task_status: next, attempt: run.attempt },
    },
    now,
  );
  return { task_id: run.task_id, task_status: next };
}

/** Failed tasks whose backoff has passed go back to pending (the retry half of the reaper). */
export function requeueDueFailures(db: Db, now: number): number {
  return db
    .query("UPDATE tasks SET status = 'pending', updated_at = ? WHERE status = 'failed' AND not_before <= ?")
    .run(now, now).changes;
}

export function getRun(db: Db, runId: string): RunRow | null {
  return db.query("SELECT * FROM runs WHERE run_id = ?").get(runId) as RunRow | null;
}

export function activeRuns(db: Db, node?: string): RunRow[] {
  const sql = `SELECT * FROM runs WHERE state IN ${sqlIn(ACTIVE_RUN_STATES)}${node ? " AND node = ?" : ""} ORDER BY created_at`;
  return (node ? db.query(sql).all(node) : db.query(sql).all()) as RunRow[];
}

export function runsOfTask(db: Db, taskId: string): RunRow[] {
  return db.query("SELECT * FROM runs WHERE task_id = ? ORDER BY attempt").all(taskId) as RunRow[];
}
