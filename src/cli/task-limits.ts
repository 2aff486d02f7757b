import { formatDuration } from "../config/duration.ts";
import type { Config } from "../config/schema.ts";
import { attemptsLeft, revivalsLeft } from "../dispatch/run-end.ts";
import { runTimeoutMs } from "../dispatch/timeout.ts";

/** The figures `tasks show` derives from a task and the config: what will actually apply. */
export interface TaskLimits {
  /** What the reaper allows a run of this task before killing it as `timeout`. */
  effective_timeout_ms: number;
  timeout_from: "spec" | "estimate" | "task_max";
  /** Runs still allowed by max_attempts (0 once it is spent). */
  attempts_left: number;
  /** Extra attempts the guardian may still give after a recoverable failure (0 when the spec set max_attempts). */
  revivals_left: number;
}

export function taskLimits(
  t: {
    timeout_ms: number | null;
    estimated_minutes: number | null;
    attempts: number;
    max_attempts: number;
    own_max_attempts: number | null;
    revivals: number;
  },
  config: Pick<Config, "timeouts" | "retry">,
): TaskLimits {
  const timeout_from =
    t.timeout_ms !== null && t.timeout_ms > 0
      ? "spec"
      : t.estimated_minutes !== null && t.estimated_minutes > 0
        ? "estimate"
        : "task_max";
  return {
    effective_timeout_ms: runTimeoutMs(t, config.timeouts),
    timeout_from,
    attempts_left: attemptsLeft(t),
    revivals_left: revivalsLeft(t, config.retry.auto_revive),
  };
}

export function formatTimeoutLine(l: TaskLimits, estimateFactor: number): string {
  const from =
    l.timeout_from === "spec"
      ? "the spec's timeout"
      : l.timeout_from === "estimate"
        ? `estimated_minutes × ${estimateFactor}, at most timeouts.task_max`
        : "timeouts.task_max; the spec sets no timeout or estimate";
  return `${formatDuration(l.effective_timeout_ms)} (${from})`;
}

export function formatAttemptsLine(t: { attempts: number; max_attempts: number }, l: TaskLimits): string {
  const revive = l.revivals_left
    ? `; the guardian may add ${l.revivals_left} after a lost run, timeout or failed launch (retry.auto_revive)`
    : "";
  return `${t.attempts}/${t.max_attempts}, ${l.attempts_left} left${revive}`;
}
