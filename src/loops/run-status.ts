import { nodeReportEnd, retryPolicyOf, runOutcome } from "../dispatch/run-end.ts";
import { logger } from "../log.ts";
import { metrics } from "../metrics.ts";
import type { RunStatus } from "../protocol/messages.ts";
import { finishRun, getRun, markRunning, type RunRow } from "../store/runs.ts";
import type { RunStatusDeps } from "./context.ts";

const log = logger("run-status");

export type StatusRejection = "unknown_run" | "wrong_node" | "task_mismatch";

/**
 * May `node` speak for this run? Only the node the run was launched on, about the task it was
 * given: a task on another node can read run ids from the API and forge a status.json in its
 * own OYSTER_HOME, which that node's agent then reports in good faith.
 */
export function checkRunSource(
  run: Pick<RunRow, "node" | "task_id"> | null,
  node: string,
  s: Pick<RunStatus, "task_id">,
): StatusRejection | null {
  if (!run) return "unknown_run";
  if (run.node !== node) return "wrong_node";
  if (run.task_id !== s.task_id) return "task_mismatch";
  return null;
}

/**
 * Fold what `node` says about a run into the store. Shared by the agent's push events (the
 * fast path) and the reaper's `list` sweep (the truth); finishRun is idempotent so both may
 * report the same end. A status from any node but the run's own is logged, counted and
 * ignored. Call outside any transaction; it opens its own short one.
 */
export function applyRunStatus(
  ctx: RunStatusDeps,
  node: string,
  s: RunStatus,
): "finished" | "running" | "ignored" | "rejected" {
  const now = ctx.now();
  const policy = retryPolicyOf(ctx.config.retry);
  // Assigned inside the transaction callback; `as` keeps TS from narrowing it to null here.
  let rejected = null as { reason: StatusRejection; run: RunRow | null } | null;
  const result = ctx.store.tx((db) => {
    const run = getRun(db, s.run_id);
    const reason = checkRunSource(run, node, s);
    if (reason) {
      rejected = { reason, run };
      return "rejected" as const;
    }
    if (s.state === "starting" || s.state === "running") {
      return markRunning(
        db,
        s.run_id,
        { pid: s.pid, started_at: s.started_at, heartbeat_at: s.heartbeat_at },
        now,
      )
        ? ("running" as const)
        : ("ignored" as const);
    }
    // Make sure the attempt is counted even if we never saw it running (a very short run).
    markRunning(db, s.run_id, { pid: s.pid, started_at: s.started_at, heartbeat_at: s.heartbeat_at }, now);
    // Lost: the wrapper died, its executor may live on. The run keeps its lease and locks until
    // the reaper has killed the group (reaper.ts settleLost), so its task cannot run twice at once.
    const end = nodeReportEnd(s);
    if (!end) return "ignored" as const;
    const done = finishRun(db, s.run_id, { ...end, finished_at: s.finished_at ?? now }, policy, now);
    if (done) metrics.runsFinished.inc({ outcome: runOutcome(end) });
    return done ? ("finished" as const) : ("ignored" as const);
  });
  if (rejected) reportRejection(node, s, rejected);
  if (result === "finished") ctx.wakeScheduler();
  return result;
}

function reportRejection(
  node: string,
  s: RunStatus,
  { reason, run }: { reason: StatusRejection; run: RunRow | null },
): void {
  metrics.runStatusRejected.inc({ reason });
  // A run id this store never issued is usually a node's leftover from another controller, not an attack.
  const why =
    reason === "unknown_run"
      ? "this store never issued that run id"
      : reason === "wrong_node"
        ? `the run was launched on ${run?.node}`
        : `the run belongs to task ${run?.task_id}, not ${s.task_id}`;
  const msg = `ignored a "${s.state}" status for run ${s.run_id} from node ${node}: ${why}`;
  const fields = { node, run: s.run_id, reason };
  if (reason === "unknown_run") log.debug(msg, fields);
  else log.warn(msg, fields);
}
