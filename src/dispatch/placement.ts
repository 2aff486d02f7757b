import {
  allows,
  type BreakerPolicy,
  type BreakerState,
  executorBreakerKey,
  nodeBreakerKey,
} from "./breaker.ts";
import { normalizeModifiesPath, PathLocks } from "./paths.ts";
import type { OverloadCause, Reason } from "./reasons.ts";
import {
  fullPools,
  type PoolUse,
  poolsOf,
  type Reservation,
  reservationActive,
  reserveDetail,
} from "./slots.ts";
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
  /** Pools select by project as well as executor. */
  project?: string;
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
  /** Configured pools with their active runs (config `pools`); none: no pool limits. */
  pools?: PoolUse[];
  /** Slots held back for people (`oyster reserve`). */
  reserve?: Reservation;
  /** Who holds each locked path, only to name it in a waiting reason. */
  lockHolders?: ReadonlyMap<string, LockHolder>;
}

export interface LockHolder {
  task_id: string;
  run_id: string | null;
  node: string | null;
}

/**
 * Why one ready task did not launch this tick: a dispatch reason, or `modifies_locked` (a path
 * it modifies is held), or `ready` (it launches; only seen by callers that do not launch).
 */
export interface Wait {
  reason: Reason | "modifies_locked" | "ready";
  detail: string;
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
  /** Every ready task that did not launch, with why (launched ones: `ready`). */
  waiting: Map<string, Wait>;
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
  const waiting = new Map<string, Wait>();
  const done = () => ({ launches, refusals, waiting });
  /** A reason that holds every ready task back: one refusal, each task waits with it. */
  const allWait = (r: Refusal, detail = r.detail ?? "") => {
    refusals.push(r);
    for (const t of input.ready) waiting.set(t.task_id, { reason: r.reason, detail });
    return done();
  };
  if (input.ready.length === 0) return done();
  if (input.drain) return allWait({ reason: "draining" }, "the fleet is drained (oyster drain on)");
  if (input.pause) return allWait({ reason: "billing_pause" }, "dispatch is paused (oyster pause on)");

  const { now, breakerPolicy: policy } = input;
  const breakerOf = (key: string) => input.breakers.get(key);
  const nodeAllowed = (name: string) => {
    const b = breakerOf(nodeBreakerKey(name));
    return !b || allows(b, now, policy);
  };
  const reserve = input.reserve ?? { fleet: 0, nodes: {} };
  const candidates = input.nodes.filter((n) => n.online && !n.draining && n.slots > 0);
  const rawFree = new Map(candidates.map((n) => [n.name, Math.max(0, n.slots - n.running)]));
  // Slot budget, seeds/004 order: the team reservation, then the fleet's slots, then pools.
  const free = new Map(
    candidates.map((n) => [n.name, Math.max(0, (rawFree.get(n.name) ?? 0) - (reserve.nodes[n.name] ?? 0))]),
  );
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const totalRaw = sum(rawFree);
  if (totalRaw === 0)
    return allWait(
      { reason: "pool_exhausted" },
      fullNodes(candidates.length ? candidates : input.nodes, rawFree),
    );
  // Launches the fleet-wide reservation leaves to agents this tick.
  let budget = Math.max(0, sum(free) - reserve.fleet);
  if (budget === 0) return allWait({ reason: "user_team_mode" }, reserveDetail(reserve));

  // Pools close the slot budget: before breakers, a task whose pool is full waits pool_full.
  const pools = (input.pools ?? []).map((p) => ({ ...p }));
  const poolRefused = new Set<string>();
  const poolWait = (t: ReadyTask): Wait | null => {
    const full = fullPools(poolsOf(pools, t));
    if (!full.length) return null;
    for (const p of full)
      if (!poolRefused.has(p.name)) {
        refusals.push({ reason: "pool_full", task_id: t.task_id, detail: `pool ${p.name}` });
        poolRefused.add(p.name);
      }
    return {
      reason: "pool_full",
      detail: full.map((p) => `pool ${p.name} ${p.running}/${p.slots}`).join(", "),
    };
  };
  /** A check after the slot budget holds every task back, except those a full pool already holds. */
  const laterWait = (r: Refusal | null, w: Wait) => {
    if (r) refusals.push(r);
    for (const t of input.ready) waiting.set(t.task_id, poolWait(t) ?? w);
    return done();
  };
  if (input.ready.every((t) => fullPools(poolsOf(pools, t)).length > 0))
    return laterWait(null, { reason: "pool_full", detail: "" });

  const withBreaker = candidates.filter((n) => (free.get(n.name) ?? 0) > 0 && nodeAllowed(n.name));
  if (withBreaker.length === 0) {
    const open = candidates.filter((n) => !nodeAllowed(n.name)).map((n) => n.name);
    const r: Refusal = {
      reason: "circuit_breaker_open",
      detail: `every node with a free slot is open (${open.join(", ")})`,
    };
    return laterWait(r, { reason: r.reason, detail: r.detail ?? "" });
  }
  if (lowSuccessRate(input.stats, input.minSuccessRate, input.minSamples)) {
    const pct = ((input.stats.rate ?? 0) * 100).toFixed(0);
    const r: Refusal = {
      reason: "low_success_rate",
      detail: `${pct}% over ${input.stats.total} dispatches in the window (< ${input.minSuccessRate * 100}%)`,
    };
    return laterWait(r, { reason: r.reason, detail: r.detail ?? "" });
  }
  const healthy: NodeView[] = [];
  const overloaded: string[] = [];
  for (const n of withBreaker) {
    const problem = resourceProblem(n, input.thresholds);
    if (problem) {
      refusals.push({ reason: "server_overloaded", node: n.name, ...problem });
      overloaded.push(`${n.name}: ${problem.detail}`);
    } else healthy.push(n);
  }
  if (healthy.length === 0)
    return laterWait(null, { reason: "server_overloaded", detail: overloaded.join("; ") });

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
  // Held paths, keyed by their one spelling; `holders` says who holds each (for the REASON detail).
  const locked = new PathLocks();
  const holders = new Map<string, LockHolder | null>();
  const lock = (path: string, holder: LockHolder | null) => {
    const p = normalizeModifiesPath(path);
    locked.add(p, p);
    holders.set(p, holder);
  };
  for (const p of input.lockedPaths) lock(p, input.lockHolders?.get(p) ?? null);
  const executorRefused = new Set<string>();
  const executorWaiting = new Set<string>();
  let slotsGone: Wait | null = null;
  let teamRefused = false;
  const runs = (n: NodeView, executor: string) => n.executors === null || n.executors.includes(executor);
  /** Why one node cannot take a task now, as a reason and a few words, or null when it can. */
  const whyNot = (n: NodeView): { reason: Wait["reason"]; text: string } | null => {
    if (!n.online) return { reason: "no_executor", text: "offline" };
    if (n.draining) return { reason: "draining", text: "drained" };
    const raw = rawFree.get(n.name) ?? 0;
    if (raw <= 0) return { reason: "pool_exhausted", text: `full ${n.slots - raw}/${n.slots}` };
    if ((free.get(n.name) ?? 0) <= 0) return { reason: "user_team_mode", text: "reserved" };
    if (!admits(nodeBreakerKey(n.name))) return { reason: "circuit_breaker_open", text: "breaker open" };
    const problem = resourceProblem(n, input.thresholds);
    if (problem) return { reason: "server_overloaded", text: problem.detail };
    return null;
  };
  /** The nodes that run `executor` all refuse: one reason when they agree, the detail node by node. */
  const whyNoNode = (executor: string): Wait => {
    const causes = input.nodes
      .filter((n) => runs(n, executor))
      .map((n) => ({ node: n.name, why: whyNot(n) }))
      .filter((c): c is { node: string; why: NonNullable<ReturnType<typeof whyNot>> } => c.why !== null);
    const reasons = new Set(causes.map((c) => c.why.reason));
    const reason = reasons.size === 1 ? [...reasons][0]! : "no_executor";
    const list = causes.map((c) => `${c.node} ${c.why.text}`).join(", ");
    return {
      reason,
      detail:
        reason === "user_team_mode"
          ? reserveDetail(reserve)
          : `no node that runs ${executor} can take it now${list ? `: ${list}` : ""}`,
    };
  };

  for (const task of input.ready) {
    const wait = (w: Wait) => waiting.set(task.task_id, w);
    if (launches.length >= input.maxLaunches) {
      wait({
        reason: "ready",
        detail: `launches at a later tick (dispatch.max_per_tick ${input.maxLaunches})`,
      });
      continue;
    }
    if (slotsGone) {
      wait(slotsGone);
      continue;
    }
    if (input.leased.has(task.task_id)) {
      refusals.push({ reason: "already_running", task_id: task.task_id });
      wait({ reason: "already_running", detail: "it holds an active run" });
      continue;
    }
    // Two tasks whose `modifies` paths overlap never run at once; a locked task just waits (not a refusal).
    const held = task.paths.map((p) => locked.conflict(p)).find((c) => c !== null);
    if (held) {
      wait({
        reason: "modifies_locked",
        detail: `modifies ${held.path} held by ${describeHolder(holders.get(held.holder) ?? null)}`,
      });
      continue;
    }
    const inFullPool = poolWait(task);
    if (inFullPool) {
      wait(inFullPool);
      continue;
    }
    const ek = executorBreakerKey(task.executor);
    if (!admits(ek)) {
      if (!executorRefused.has(task.executor)) {
        refusals.push({ reason: "circuit_breaker_open", task_id: task.task_id, detail: ek });
        executorRefused.add(task.executor);
      }
      wait({ reason: "circuit_breaker_open", detail: ek });
      continue;
    }
    const able = healthy.filter((n) => runs(n, task.executor));
    if (able.length === 0) {
      const somewhere = input.nodes.some((n) => runs(n, task.executor));
      // On no node at all: the task can never start here (the scheduler fails it, no attempt spent).
      if (!somewhere) {
        const detail = `executor "${task.executor}" is on no node`;
        refusals.push({ reason: "pre_flight_check_failed", task_id: task.task_id, detail });
        wait({ reason: "pre_flight_check_failed", detail });
      } else {
        // Its nodes exist but none can take work now: say why, node by node.
        const w = whyNoNode(task.executor);
        if (w.reason === "user_team_mode") {
          if (!teamRefused) refusals.push({ reason: "user_team_mode", task_id: task.task_id });
          teamRefused = true;
        } else if (!executorWaiting.has(task.executor)) {
          refusals.push({ reason: "no_executor", task_id: task.task_id, detail: task.executor });
          executorWaiting.add(task.executor);
        }
        wait(w);
      }
      continue;
    }
    const elsewhere = task.avoid ? able.filter((n) => n.name !== task.avoid) : able;
    const node = pickNode(elsewhere, free, admits) ?? pickNode(able, free, admits);
    if (!node) {
      wait(whyNoNode(task.executor));
      continue;
    }
    launches.push({ task_id: task.task_id, node: node.name, executor: task.executor });
    wait({ reason: "ready", detail: `launches on ${node.name}` });
    free.set(node.name, (free.get(node.name) ?? 0) - 1);
    rawFree.set(node.name, (rawFree.get(node.name) ?? 0) - 1);
    budget--;
    for (const p of poolsOf(pools, task)) p.running++;
    for (const p of task.paths) lock(p, { task_id: task.task_id, run_id: null, node: node.name });
    probed.add(ek);
    probed.add(nodeBreakerKey(node.name));
    if (sum(rawFree) <= 0) slotsGone = { reason: "pool_exhausted", detail: fullNodes(candidates, rawFree) };
    else if (budget <= 0 || sum(free) <= 0) {
      slotsGone = { reason: "user_team_mode", detail: reserveDetail(reserve) };
      if (!reservationActive(reserve)) slotsGone = { reason: "pool_exhausted", detail: "" };
    }
  }
  return done();
}

function describeHolder(h: LockHolder | null | undefined): string {
  if (!h) return "a running task";
  const where = [h.run_id ? `run ${h.run_id}` : "launching now", h.node ? `on node ${h.node}` : null]
    .filter(Boolean)
    .join(" ");
  return `task ${h.task_id} (${where})`;
}

/** "all slots taken: a 2/2, b 1/1": the nodes that could take work, with their slots in use. */
function fullNodes(nodes: NodeView[], rawFree: ReadonlyMap<string, number>): string {
  if (nodes.length === 0) return "no node can take work";
  const used = (n: NodeView) => (rawFree.has(n.name) ? n.slots - (rawFree.get(n.name) ?? 0) : n.running);
  return `all slots taken: ${nodes.map((n) => `${n.name} ${used(n)}/${n.slots}`).join(", ")}`;
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
