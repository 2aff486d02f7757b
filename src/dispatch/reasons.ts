/**
 * Why a ready task was not dispatched, or why a launch failed (seeds/004 §6, plus
 * server_overloaded and already_running). `recoverable` tells the guardian whether retrying
 * a task that failed for this reason can help.
 */
export const REASONS = {
  draining: { trigger: "drain check", recoverable: true },
  billing_pause: { trigger: "pause", recoverable: true },
  pool_exhausted: { trigger: "slot budget", recoverable: true },
  circuit_breaker_open: { trigger: "circuit breaker", recoverable: true },
  low_success_rate: { trigger: "success-rate gate", recoverable: true },
  server_overloaded: { trigger: "node resources", recoverable: true },
  no_executor: { trigger: "executor check", recoverable: true },
  already_running: { trigger: "dedup", recoverable: true },
  pre_flight_check_failed: { trigger: "pre-flight", recoverable: false },
  task_not_found: { trigger: "task lookup", recoverable: false },
  executor_failed: { trigger: "launch", recoverable: true },
  // A launch that failed for the node's reasons (full disk, broken agent, lost reply): the node's breaker.
  node_failed: { trigger: "launch", recoverable: true },
  // Run outcomes (reaper): a lost node or a timeout is worth another try; a non-zero exit may not be.
  lost: { trigger: "reaper", recoverable: true },
  timeout: { trigger: "reaper", recoverable: true },
  exit_nonzero: { trigger: "executor", recoverable: false },
} as const satisfies Record<string, { trigger: string; recoverable: boolean }>;

export type Reason = keyof typeof REASONS;

export function isRecoverable(reason: string | null | undefined): boolean {
  if (!reason) return false;
  return (REASONS as Record<string, { recoverable: boolean }>)[reason]?.recoverable ?? false;
}
