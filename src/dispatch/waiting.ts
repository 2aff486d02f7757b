import { type DecisionInput, decide, type ReadyTask, type Wait } from "./placement.ts";

/**
 * Why each pending task waits (issue 13.2), pure. What holds a task before placement (a
 * dependency not succeeded, its retry backoff) is read here; the rest is the scheduler's own
 * `decide` run on the same facts, so the reason shown is the reason the scheduler has, never a
 * second guess. `ready` means the next tick launches it.
 */
export interface PendingTask extends ReadyTask {
  project: string;
  not_before: number;
  deps: { task_id: string; status: string | null }[];
}

export type WaitReason = Wait["reason"] | "dependency" | "backoff";

export interface Waiting {
  reason: WaitReason;
  detail: string;
}

export function explainWaiting(
  pending: PendingTask[],
  facts: Omit<DecisionInput, "ready" | "maxLaunches">,
): Map<string, Waiting> {
  const out = new Map<string, Waiting>();
  const ready: ReadyTask[] = [];
  for (const t of pending) {
    const unmet = t.deps.filter((d) => d.status !== "succeeded");
    if (unmet.length) {
      out.set(t.task_id, {
        reason: "dependency",
        detail: `waits on ${unmet.map((d) => `${d.task_id} (${d.status ?? "missing"})`).join(", ")}`,
      });
    } else if (t.not_before > facts.now) {
      out.set(t.task_id, {
        reason: "backoff",
        detail: `retry backoff until ${new Date(t.not_before).toISOString()}`,
      });
    } else
      ready.push({
        task_id: t.task_id,
        executor: t.executor,
        project: t.project,
        paths: t.paths,
        avoid: t.avoid,
      });
  }
  // Every ready task is placed in one decision (no per-tick cap), so each gets its own reason.
  const d = decide({ ...facts, ready, maxLaunches: Number.POSITIVE_INFINITY });
  for (const t of ready) out.set(t.task_id, d.waiting.get(t.task_id) ?? { reason: "ready", detail: "" });
  return out;
}

/** "pool_full 3, modifies_locked 1": the most common reasons, for `oyster status`. */
export function topWaiting(w: Iterable<Waiting>, n = 4): { reason: WaitReason; count: number }[] {
  const counts = new Map<WaitReason, number>();
  for (const x of w) counts.set(x.reason, (counts.get(x.reason) ?? 0) + 1);
  return [...counts.entries()]
    .map(([reason, count]) => ({ reason, count }))
    .sort((a, b) => b.count - a.count)
    .slice(0, n);
}
