import {
  allows,
  type BreakerPolicy,
  type BreakerState,
  executorBreakerKey,
  nodeBreakerKey,
} from "./breaker.ts";
import { PathLocks } from "./paths.ts";
import type { OverloadCause, Reason } from "./reasons.ts";
import { lowSuccessRate, type WindowStats } from "./stats.ts";

/**
 * One scheduler decision, pure: given the ready tasks (already ordered by priority, then age,
 * with dependencies satisfied) and the fleet as the store sees it, which task goes where, and
 * why the rest waits. Checks run in seeds/004 order: drain → pause → slot budget → breaker →
 * low success rate → node resources → launch.
 */
export interface ReadyTask {
  task_id: string;
  executor: string;
  paths: string[];
  /** Where its last attempt was lost or failed: another node is preferred when one is free. */
  avoid?: string | null;
}

export interface NodeView {
  name: string;
  slots: number;
  running: number;
  online: boolean;
  draining: boolean;
  /** null: every executor. */
  executors: string[] | null;
  resources: {
    load1: number | null;
    load5: number | null;
    load15: number | null;
    mem_avail_mb: number | null;
    swap_pct: number | null;
  } | null;
}

export interface Thresholds {
  max_load: number;
  min_mem_mb: number;
  max_swap_pct: number;
}

export interface DecisionInput {
  now: number;
  ready: ReadyTask[];
  /** Paths held by active runs. */
  lockedPaths: ReadonlySet<string>;
  /** Tasks that already hold a lease (an active run). */
  leased: ReadonlySet<string>;
  nodes: NodeView[];
  breakers: ReadonlyMap<string, BreakerState>;
  breakerPolicy: BreakerPolicy;
  drain: boolean;
  pause: boolean;
  stats: WindowStats;
  minSuccessRate: number;
  minSamples: number;
  thresholds: Thresholds;
  maxLaunches: number;
}

export interface Launch {
  task_id: string;
  node: string;
  executor: string;
}

export interface Refusal {
  reason: Reason;
  task_id?: string;
  node?: string;
  detail?: string;
  /** server_overloaded only: which threshold the node is over. */
  cause?: OverloadCause;
}

export interface Decision {
  launches: Launch[];
  refusals: Refusal[];
}

/** Why a node's last resource reading refuses new work (cause and numbers), or null when it passes. */
export function resourceProblem(
  n: Pick<NodeView, "resources">,
  t: Thresholds,
): { cause: OverloadCause; detail: string } | null {
  const r = n.resources;
  if (!r) return null;
  const loads = [r.load1, r.load5, r.load15].filter((x): x is number => x !== null);
  // seeds/004: all three load averages above the threshold (a short spike alone does not refuse).
  if (loads.length && Math.min(...loads) >= t.max_load)
    return { cause: "high_cpu_load", detail: `high_cpu_load (${loads[0]!.toFixed(2)} ≥ ${t.max_load})` };
  if (r.mem_avail_mb !== null && r.mem_avail_mb < t.min_mem_mb)
    return {
      cause: "insufficient_memory",
      detail: `insufficient_memory (${Math.round(r.mem_avail_mb)} MB < ${t.min_mem_mb} MB)`,
    };
  if (r.swap_pct !== null && r.swap_pct > t.max_swap_pct)
    return { cause: "high_swap", detail: `high_swap (${r.swap_pct.toFixed(1)}% > ${t.max_swap_pct}%)` };
  return null;
}

export function decide(input: DecisionInput): Decision {
  const refusals: Refusal[] = [];
  const launches: Launch[] = [];
  if (input.ready.length === 0) return { launches, refusals };
  if (input.drain) return { launches, refusals: [{ reason: "draining" }] };
  if (input.pause) return { launches, refusals: [{ reason: "billing_pause" }] };

  const { now, breakerPolicy: policy } = input;
  const breakerOf = (key: string) => input.breakers.get(key);
  const nodeAllowed = (name: string) => {
    const b = breakerOf(nodeBreakerKey(name));
    return !b || allows(b, now, policy);
  };
  const candidates = input.nodes.filter((n) => n.online && !n.draining && n.slots > 0);
  const free = new Map(candidates.map((n) => [n.name, Math.max(0, n.slots - n.running)]));
  const totalFree = [...free.values()].reduce((a, b) => a + b, 0);
  if (totalFree === 0) return { launches, refusals: [{ reason: "pool_exhausted" }] };

  const withBreaker = candidates.filter((n) => (free.get(n.name) ?? 0) > 0 && nodeAllowed(n.name));
  if (withBreaker.length === 0) {
    return {
      launches,
      refusals: [{ reason: "circuit_breaker_open", detail: "every node with a free slot is open" }],
    };
  }
  if (lowSuccessRate(input.stats, input.minSuccessRate, input.minSamples)) {
    const pct = ((input.stats.rate ?? 0) * 100).toFixed(0);
    return {
      launches,
      refusals: [
        { reason: "low_success_rate", detail: `${pct}% over ${input.stats.total} dispatches in the window` },
      ],
    };
  }
  const healthy: NodeView[] = [];
  for (const n of withBreaker) {
    const problem = resourceProblem(n, input.thresholds);
    if (problem) refusals.push({ reason: "server_overloaded", node: n.name, ...problem });
    else healthy.push(n);
  }
  if (healthy.length === 0) return { launches, refusals };

  // Breakers admit one probe when HALF_OPEN: track what this tick already let through.
  const probed = new Set<string>();
  const halfOpen = (key: string) => {
    const b = breakerOf(key);
    return b !== undefined && b.state !== "CLOSED";
  };
  const admits = (key: string) => {
    const b = breakerOf(key);
    if (!b) return true;
    if (!allows(b, now, policy)) return false;
    return !(halfOpen(key) && probed.has(key));
  };
  const locked = new PathLocks(input.lockedPaths);
  const executorRefused = new Set<string>();
  const executorWaiting = new Set<string>();

  for (const task of input.ready) {
    if (launches.length >= input.maxLaunches) break;
    if (input.leased.has(task.task_id)) {
      refusals.push({ reason: "already_running", task_id: task.task_id });
      continue;
    }
    // Two tasks whose `modifies` paths overlap never run at once; a locked task just waits (not a refusal).
    if (task.paths.some((p) => locked.conflicts(p))) continue;
    const ek = executorBreakerKey(task.executor);
    if (!admits(ek)) {
      if (!executorRefused.has(task.executor)) {
        refusals.push({ reason: "circuit_breaker_open", task_id: task.task_id, detail: ek });
        executorRefused.add(task.executor);
      }
      continue;
    }
    const able = healthy.filter((n) => n.executors === null || n.executors.includes(task.executor));
    if (able.length === 0) {
      const somewhere = input.nodes.some((n) => n.executors === null || n.executors.includes(task.executor));
      // On no node at all: the task can never start here (the scheduler fails it, no attempt spent).
      if (!somewhere)
        refusals.push({
          reason: "pre_flight_check_failed",
          task_id: task.task_id,
          detail: `executor "${task.executor}" is on no node`,
        });
      else if (!executorWaiting.has(task.executor)) {
        // Its nodes exist but none can take work now (offline, draining, open, overloaded, full).
        refusals.push({ reason: "no_executor", task_id: task.task_id, detail: task.executor });
        executorWaiting.add(task.executor);
      }
      continue;
    }
    const elsewhere = task.avoid ? able.filter((n) => n.name !== task.avoid) : able;
    const node = pickNode(elsewhere, free, admits) ?? pickNode(able, free, admits);
    if (!node) continue;
    launches.push({ task_id: task.task_id, node: node.name, executor: task.executor });
    free.set(node.name, (free.get(node.name) ?? 0) - 1);
    for (const p of task.paths) locked.add(p);
    probed.add(ek);
    probed.add(nodeBreakerKey(node.name));
    if ([...free.values()].every((f) => f <= 0)) break;
  }
  return { launches, refusals };
}

/** Spread load: the node with the lowest share of its slots in use, then the most free slots. */
function pickNode(
  nodes: NodeView[],
  free: Map<string, number>,
  admits: (key: string) => boolean,
): NodeView | undefined {
  let best: NodeView | undefined;
  let bestUse = Number.POSITIVE_INFINITY;
  for (const n of nodes) {
    const f = free.get(n.name) ?? 0;
    if (f <= 0 || !admits(nodeBreakerKey(n.name))) continue;
    const use = (n.slots - f) / n.slots;
    if (use < bestUse || (use === bestUse && best && f > (free.get(best.name) ?? 0))) {
      best = n;
      bestUse = use;
    }
  }
  return best;
}
