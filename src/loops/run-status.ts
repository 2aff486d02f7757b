import { metrics } from "../metrics.ts";
import type { RunStatus } from "../remote/transport.ts";
import { finishRun, getRun, markRunning } from "../store/runs.ts";
import type { ControllerContext } from "./context.ts";

/**
 * Fold what a node says about a run into the store. Shared by the agent's push events (the
 * fast path) and the reaper's `list` sweep (the truth); finishRun is idempotent so both may
 * report the same end. Call outside any transaction; it opens its own short one.
 */
export function applyRunStatus(ctx: ControllerContext, s: RunStatus): "finished" | "running" | "ignored" {
  const now = ctx.now();
  const policy = { backoffMs: ctx.config.retry.backoff, maxBackoffMs: ctx.config.retry.max_backoff };
  const result = ctx.store.tx((db) => {
    const run = getRun(db, s.run_id);
    if (!run) return "ignored" as const;
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
    if (s.state === "lost") return "ignored" as const;
    const end =
      s.state === "succeeded"
        ? ({ state: "succeeded", exit_code: s.exit_code } as const)
        : ({
            state: "failed",
            exit_code: s.exit_code,
            reason: s.state === "killed" ? "killed" : "exit_nonzero",
          } as const);
    const done = finishRun(db, s.run_id, { ...end, finished_at: s.finished_at ?? now }, policy, now);
    if (done) metrics.runsFinished.inc({ outcome: end.state });
    return done ? ("finished" as const) : ("ignored" as const);
  });
  if (result === "finished") ctx.wakeScheduler();
  return result;
}
