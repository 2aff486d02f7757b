/**
 * How long a run may take before the reaper calls it stuck: the spec's `timeout`, else
 * estimate_factor × estimated_minutes, never more than timeouts.task_max.
 */
export function runTimeoutMs(
  task: { timeout_ms: number | null; estimated_minutes: number | null },
  t: { task_max: number; estimate_factor: number },
): number {
  if (task.timeout_ms !== null && task.timeout_ms > 0) return task.timeout_ms;
  if (task.estimated_minutes !== null && task.estimated_minutes > 0) {
    return Math.min(t.task_max, Math.round(task.estimated_minutes * 60_000 * t.estimate_factor));
  }
  return t.task_max;
}
