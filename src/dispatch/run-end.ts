/**
 * What happens when a run ends, pure: the retry policy, the reason a run ended with, the task's
 * next status, and how a node's own report of a run reads as an end. store/runs.ts finishRun
 * applies these answers in one transaction; the loops only say how a run ended.
 */
import type { Reason } from "./reasons.ts";
import { FINAL_TASK_STATUSES, isIn, type NodeRunState, type TaskStatus } from "./states.ts";

export interface RetryPolicy {
  backoffMs: number;
  maxBackoffMs: number;
}

/** The policy from the config's `retry` section (one spelling for every loop). */
export function retryPolicyOf(retry: { backoff: number; max_backoff: number }): RetryPolicy {
  return { backoffMs: retry.backoff, maxBackoffMs: retry.max_backoff };
}

/** Backoff before attempt n+1 after n failed attempts: backoff × 2^(n-1), capped. */
export function retryDelay(attempts: number, p: RetryPolicy): number {
  return Math.min(p.maxBackoffMs, p.backoffMs * 2 ** Math.max(0, attempts - 1));
}

/** Runs still allowed by max_attempts (0 once spent: the next failure makes the task dead). */
export function attemptsLeft(t: { attempts: number; max_attempts: number }): number {
  return Math.max(0, t.max_attempts - t.attempts);
}

/**
 * Revivals the guardian may still give a dead task (retry.auto_revive), one attempt each: what
 * is left of the budget, and never past the spec's own max_attempts (a task that says
 * `max_attempts: 1` runs once; only the config default, the operator's guess, is stretched).
 * The guardian's choice (store/healing.ts revivable) and `tasks show` both read this one rule.
 */
export function revivalsLeft(
  t: { own_max_attempts: number | null; revivals: number; attempts: number; max_attempts: number },
  autoRevive: number,
): number {
  const budget = Math.max(0, autoRevive - t.revivals);
  if (t.own_max_attempts === null) return budget;
  // A revival is an attempt beyond max_attempts (a task dies only once they are spent).
  return Math.min(budget, Math.max(0, t.own_max_attempts - Math.max(t.attempts, t.max_attempts)));
}

/** Why a run ended badly: the run outcomes and the launch failures of REASONS. */
export type RunEndReason = Extract<
  Reason,
  "exit_nonzero" | "timeout" | "lost" | "killed" | "cancelled" | "node_failed" | "executor_failed"
>;

export interface RunEnd {
  state: "succeeded" | "failed" | "lost" | "cancelled";
  exit_code?: number | null;
  reason?: RunEndReason | null;
  finished_at?: number | null;
  /** A launch that never reached the node: requeue without spending an attempt. */
  launchFailed?: boolean;
}

/** The reason recorded for an end: its own, else the one its state implies (none for success). */
export function endReason(end: Pick<RunEnd, "state" | "reason">): RunEndReason | null {
  return end.reason ?? (end.state === "failed" ? "exit_nonzero" : end.state === "lost" ? "lost" : null);
}

/** The `outcome` label of oyster_runs_finished_total: a timeout is a failure worth its own count. */
export function runOutcome(end: Pick<RunEnd, "state" | "reason">): "timeout" | RunEnd["state"] {
  return end.reason === "timeout" ? "timeout" : end.state;
}

export interface TaskAfterRun {
  status: TaskStatus;
  /** When a failed task may be retried (0: at once). */
  notBefore: number;
  /** The task will not move again by itself: finished_at is set. */
  final: boolean;
  /** Its dependents can never run: block them. */
  blocksDependents: boolean;
}

/**
 * The task's next status once the run holding its lease ended: succeeded and cancelled are
 * final; a launch that never reached the node and a lost run go back to pending; a failure
 * waits out its backoff, or is dead once its attempts are spent (a lost run too: a run that
 * keeps getting lost must not loop for ever).
 */
export function taskAfterRun(
  end: Pick<RunEnd, "state" | "launchFailed">,
  task: { attempts: number; max_attempts: number },
  policy: RetryPolicy,
  now: number,
): TaskAfterRun {
  let status: TaskStatus;
  let notBefore = 0;
  if (end.state === "succeeded") status = "succeeded";
  else if (end.state === "cancelled") status = "cancelled";
  else if (end.launchFailed) status = "pending";
  else if (attemptsLeft(task) === 0) status = "dead";
  else if (end.state === "lost") status = "pending";
  else {
    status = "failed";
    notBefore = now + retryDelay(task.attempts, policy);
  }
  return {
    status,
    notBefore,
    final: isIn(FINAL_TASK_STATUSES, status),
    blocksDependents: status === "dead" || status === "cancelled",
  };
}

/**
 * A node's report of a run as an end: null while it runs, and for `lost` (the wrapper died, the
 * executor may live on: the reaper settles it once the group is gone). `killed` on the node is
 * a failure whose reason says so; any other failure is a non-zero exit.
 */
export function nodeReportEnd(s: {
  state: NodeRunState;
  exit_code: number | null;
  finished_at?: number | null;
}): RunEnd | null {
  if (s.state === "starting" || s.state === "running" || s.state === "lost") return null;
  if (s.state === "succeeded")
    return { state: "succeeded", exit_code: s.exit_code, finished_at: s.finished_at };
  return {
    state: "failed",
    exit_code: s.exit_code,
    reason: s.state === "killed" ? "killed" : "exit_nonzero",
    finished_at: s.finished_at,
  };
}
