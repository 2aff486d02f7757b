/**
 * Every reason oyster records, typed in one place: why ready work was held back or a launch
 * failed (seeds/004 §6, plus low_success_rate, server_overloaded and already_running), and how
 * a run ended. `recoverable` tells the guardian whether retrying a task that failed for this
 * reason can help. The README's reason table is this object, with its trigger in words.
 */
export const REASONS = {
  // Checks before placement, in seeds/004 order.
  draining: { trigger: "drain check", recoverable: true },
  billing_pause: { trigger: "pause", recoverable: true },
  // Slot budget: the team reservation (`oyster reserve`), the fleet's slots, then pools.
  user_team_mode: { trigger: "slot budget: team reservation", recoverable: true },
  pool_exhausted: { trigger: "slot budget", recoverable: true },
  pool_full: { trigger: "slot budget: pool", recoverable: true },
  circuit_breaker_open: { trigger: "circuit breaker", recoverable: true },
  low_success_rate: { trigger: "success-rate gate", recoverable: true },
  server_overloaded: { trigger: "node resources", recoverable: true },
  // Per task.
  no_executor: { trigger: "executor check", recoverable: true },
  already_running: { trigger: "dedup", recoverable: true },
  // A spec that cannot start anywhere (today: its executor is on no node). The scheduler makes
  // it dead at once without spending an attempt; retrying the same spec cannot help.
  pre_flight_check_failed: { trigger: "pre-flight", recoverable: false },
  task_not_found: { trigger: "task lookup", recoverable: false },
  executor_failed: { trigger: "launch", recoverable: true },
  // A launch that failed for the node's reasons (full disk, broken agent, lost reply): the node's breaker.
  node_failed: { trigger: "launch", recoverable: true },
  // Run outcomes (reaper): a lost node or a timeout is worth another try; a non-zero exit may not be.
  lost: { trigger: "reaper", recoverable: true },
  timeout: { trigger: "reaper", recoverable: true },
  exit_nonzero: { trigger: "executor", recoverable: false },
  killed: { trigger: "signal on the node", recoverable: false },
  cancelled: { trigger: "operator", recoverable: false },
} as const satisfies Record<string, { trigger: string; recoverable: boolean }>;

export type Reason = keyof typeof REASONS;

/** Reasons worth another try: a dead task is revived for these (retry.auto_revive). */
export const RECOVERABLE_REASONS = (Object.keys(REASONS) as Reason[]).filter((r) => REASONS[r].recoverable);

/**
 * What made a node `server_overloaded` (seeds/004 checkServerResources), checked in this order.
 * The seed's script called the last one `high_swap_usage`; issue 12 names it `high_swap`.
 */
export const OVERLOAD_CAUSES = {
  high_cpu_load: "all three load averages ≥ resources.max_load",
  insufficient_memory: "available memory < resources.min_mem_mb",
  high_swap: "swap used > resources.max_swap_pct",
} as const;

export type OverloadCause = keyof typeof OVERLOAD_CAUSES;
