/**
 * The reaper's decisions, pure: given the runs the store calls active on one node and what that
 * node's `oyster exec list` says, what to do with each run. No I/O, so every case (ghost,
 * stuck, finished behind our back, orphan) is unit-tested without a node or a database.
 */

import { type ACTIVE_RUN_STATES, FINAL_NODE_RUN_STATES, isIn, type NodeRunState } from "./states.ts";

/** A store run, as much of it as the decisions need. */
export interface ActiveRun {
  run_id: string;
  task_id: string;
  state: (typeof ACTIVE_RUN_STATES)[number];
  created_at: number;
  started_at: number | null;
  timeout_ms: number | null;
  /** The task's status: a cancelled task's run is stopped even though the run itself is fine. */
  task_status: string;
}

/** A node's view of a run (RunStatus, narrowed). */
export interface NodeRun {
  run_id: string;
  state: NodeRunState;
  started_at: number;
  /**
   * How long the run has been going on one monotonic clock (the node's wrapper, or the
   * controller's since it first saw the run). When present it alone decides the timeout.
   */
  elapsed_ms?: number;
}

export type ReapAction =
  /** The node knows the run: fold its status in (heartbeat, or an end the push never delivered). */
  | { kind: "apply"; run_id: string }
  /** The node does not know the run at all: the run is lost and its task goes back to pending. */
  | { kind: "ghost"; run_id: string; task_id: string }
  /** Still running past its timeout: record the failure (reason timeout), then kill it on the node. */
  | { kind: "stuck"; run_id: string; task_id: string; elapsed_ms: number; timeout_ms: number }
  /** Its task was cancelled while it ran: end the run as cancelled, then kill it on the node. */
  | { kind: "cancel"; run_id: string; task_id: string };

/**
 * `candidates` must be the runs that were active and not being launched by this process
 * *before* the node was listed: a run launched after the list was taken is simply absent from
 * it and must not be called a ghost.
 */
export function reconcileNode(
  candidates: ActiveRun[],
  listed: NodeRun[],
  now: number,
  /**
   * A run still `launching` this young may have a start request in flight to the node (sent by a
   * controller that died since): it is not called a ghost until this much time has passed.
   */
  launchGraceMs = 0,
): ReapAction[] {
  const onNode = new Map(listed.map((r) => [r.run_id, r]));
  const out: ReapAction[] = [];
  for (const run of candidates) {
    const seen = onNode.get(run.run_id);
    if (run.task_status === "cancelled" && !(seen && isIn(FINAL_NODE_RUN_STATES, seen.state))) {
      out.push({ kind: "cancel", run_id: run.run_id, task_id: run.task_id });
      continue;
    }
    if (!seen) {
      if (run.state === "launching" && now - run.created_at < launchGraceMs) continue;
      out.push({ kind: "ghost", run_id: run.run_id, task_id: run.task_id });
      continue;
    }
    if (isIn(FINAL_NODE_RUN_STATES, seen.state)) {
      out.push({ kind: "apply", run_id: run.run_id });
      continue;
    }
    // Never the controller's clock minus the node's: a clock step on either side would kill
    // every run at once. The wall-clock difference is only a fallback for callers without one.
    const elapsed =
      typeof seen.elapsed_ms === "number" && Number.isFinite(seen.elapsed_ms)
        ? seen.elapsed_ms
        : now - (seen.started_at || run.started_at || run.created_at);
    if (run.timeout_ms !== null && run.timeout_ms > 0 && elapsed > run.timeout_ms) {
      out.push({
        kind: "stuck",
        run_id: run.run_id,
        task_id: run.task_id,
        elapsed_ms: elapsed,
        timeout_ms: run.timeout_ms,
      });
      continue;
    }
    out.push({ kind: "apply", run_id: run.run_id });
  }
  return out;
}

/**
 * Runs still alive (or lost: wrapper gone, executor maybe not) on the node whose store run is over (finished, lost, cancelled, timed out):
 * their processes are orphans to kill. Run ids the store never issued are left alone — they are
 * not ours to touch.
 */
export function findOrphans(listed: NodeRun[], storeState: (runId: string) => string | null): string[] {
  const out: string[] = [];
  for (const r of listed) {
    // `lost` means the wrapper died, not the executor: its process group may still be running.
    if (isIn(FINAL_NODE_RUN_STATES, r.state) && r.state !== "lost") continue;
    const st = storeState(r.run_id);
    if (st === null) continue;
    if (st !== "launching" && st !== "dispatched" && st !== "running") out.push(r.run_id);
  }
  return out;
}

/**
 * Runs past `thresholdMs` since their launch and never alerted on. Launch time is the
 * controller's own clock: comparing it with the node's started_at would mix two clocks.
 */
export function overdue<T extends { created_at: number; alerted_at: number | null }>(
  runs: T[],
  thresholdMs: number,
  now: number,
): T[] {
  return runs.filter((r) => r.alerted_at === null && now - r.created_at > thresholdMs);
}
