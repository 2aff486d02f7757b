/**
 * The one vocabulary of task and run states: every state, every set the code reasons about
 * (final, active, in flight, …) and the SQL `IN (…)` fragments built from those sets. A set
 * spelled out anywhere else drifts from this one; the migrations' CHECK constraints are the
 * only other copy, and test/dispatch/states.test.ts holds them to it.
 */

export const TASK_STATUSES = [
  "pending",
  "dispatched",
  "running",
  "succeeded",
  "failed",
  "dead",
  "blocked",
  "cancelled",
] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** A run moves launching → (dispatched →) running → one of the final states. */
export const RUN_STATES = [
  "launching",
  "dispatched",
  "running",
  "succeeded",
  "failed",
  "lost",
  "cancelled",
] as const;
export type RunState = (typeof RUN_STATES)[number];

/** Tasks that never move again by themselves (`finished_at` is set). */
export const FINAL_TASK_STATUSES = [
  "succeeded",
  "dead",
  "cancelled",
] as const satisfies readonly TaskStatus[];
/** Tasks a run holds: the lease is taken and a run is underway. */
export const IN_FLIGHT_TASK_STATUSES = ["dispatched", "running"] as const satisfies readonly TaskStatus[];
/** Tasks that will not run unless someone acts: their dependents can never be satisfied. */
export const HOPELESS_TASK_STATUSES = [
  "dead",
  "cancelled",
  "blocked",
] as const satisfies readonly TaskStatus[];
/** Tasks `oyster tasks retry` may put back to pending. */
export const RETRYABLE_TASK_STATUSES = [
  "failed",
  "dead",
  "cancelled",
  "blocked",
  "succeeded",
] as const satisfies readonly TaskStatus[];

/** Runs that hold their task's lease, locks and a node slot. */
export const ACTIVE_RUN_STATES = [
  "launching",
  "dispatched",
  "running",
] as const satisfies readonly RunState[];
/** Runs that are over; their output may be pruned. */
export const FINAL_RUN_STATES = [
  "succeeded",
  "failed",
  "lost",
  "cancelled",
] as const satisfies readonly RunState[];
/** Runs that went wrong on their node: placement prefers another node for the next attempt. */
export const UNLUCKY_RUN_STATES = ["failed", "lost"] as const satisfies readonly RunState[];

/** What a node reports about a run (its status.json), and the states it never leaves. */
export const NODE_RUN_STATES = ["starting", "running", "succeeded", "failed", "killed", "lost"] as const;
export type NodeRunState = (typeof NODE_RUN_STATES)[number];
export const FINAL_NODE_RUN_STATES = [
  "succeeded",
  "failed",
  "killed",
  "lost",
] as const satisfies readonly NodeRunState[];

/** Membership with the set's own element type, for a value read from the store or the wire. */
export function isIn<T extends string>(set: readonly T[], s: string | null | undefined): s is T {
  return s != null && (set as readonly string[]).includes(s);
}

/**
 * `('a','b')` for a SQL `IN` list. Only for the constant sets above: they are identifiers we
 * wrote, never input, so inlining them is safe and lets SQLite use the state indexes.
 */
export function sqlIn(set: readonly string[]): string {
  return `(${set.map((s) => `'${s.replaceAll("'", "''")}'`).join(",")})`;
}
