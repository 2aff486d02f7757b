import {
  type BreakerPolicy,
  type BreakerStateName,
  currentState,
  nodeBreakerKey,
} from "../dispatch/breaker.ts";
import { nodeReason } from "../dispatch/node-reason.ts";
import type { NodeView } from "../dispatch/placement.ts";
import type { PoolUse, Reservation } from "../dispatch/slots.ts";
import { poolUsage } from "../dispatch/slots.ts";
import { type StatsView, statsView, type WindowReport } from "../dispatch/stats-view.ts";
import { explainWaiting, topWaiting, type WaitReason } from "../dispatch/waiting.ts";
import { loadBreakers } from "../store/breakers.ts";
import type { Db } from "../store/db.ts";
import { nodeViews } from "../store/dispatch.ts";
import { lastDispatchAt, recentDispatchEvents, windowStats } from "../store/dispatch-events.ts";
import { type EventRow, listEvents } from "../store/events.ts";
import { listNodes } from "../store/nodes.ts";
import {
  activeByExecutorProject,
  getReservation,
  type PlacementConfig,
  pendingTasks,
  placementFacts,
} from "../store/placement-facts.ts";
import { getFlag } from "../store/settings.ts";
import { countByStatus, type TaskStatus } from "../store/tasks.ts";

/**
 * The fleet as the store sees it: what /api/status, /metrics and `oyster status` (also when
 * the controller is down) show. Every query behind it is indexed or over small tables.
 */
export interface FleetSnapshot {
  at: number;
  tasks: Record<TaskStatus, number>;
  /** `reason`: why it takes no (or less) work — offline with its error, draining, breaker (issue 13.4). */
  nodes: (NodeView & { breaker: BreakerStateName; last_error: string | null; reason: string })[];
  breakers: { key: string; state: BreakerStateName; failures: number; opened_at: number | null }[];
  window: WindowReport;
  drain: boolean;
  pause: boolean;
  /** Slots held back for people (`oyster reserve`). */
  reserve: Reservation;
  /** Configured pools and their active runs. */
  pools: PoolUse[];
  /** Running tasks and why pending ones wait; only where asked for (not on every /metrics scrape). */
  queue?: QueueView;
}

export interface RunningTask {
  task_id: string;
  run_id: string;
  node: string;
  attempt: number;
  state: string;
  /** When the run started on its node (null while launching), epoch ms. */
  started_at: number | null;
  started_at_iso: string | null;
  elapsed_ms: number | null;
}

export interface QueueView {
  running: RunningTask[];
  /** The most common waiting reasons among pending tasks (the scheduler's own decision). */
  waiting: { reason: WaitReason; count: number }[];
}

/** How many pending tasks a waiting summary looks at: the scheduler's ready window. */
export const WAITING_WINDOW = 512;

export function fleetSnapshot(
  db: Db,
  now: number,
  windowMs: number,
  policy: BreakerPolicy,
  /** Pools to count; with `queue`, also running tasks and waiting reasons (costlier). */
  placement?: PlacementConfig & { queue?: boolean },
): FleetSnapshot {
  const breakers = [...loadBreakers(db).values()].map((b) => currentState(b, now, policy));
  const byKey = new Map(breakers.map((b) => [b.key, b.state]));
  const rows = new Map(listNodes(db).map((r) => [r.name, r]));
  return {
    at: now,
    tasks: countByStatus(db),
    nodes: nodeViews(db).map((n) => {
      const breaker = byKey.get(nodeBreakerKey(n.name)) ?? "CLOSED";
      const row = rows.get(n.name);
      const last_error = row?.last_error ?? null;
      const reason = nodeReason({ ...n, breaker, last_error, last_probe_at: row?.last_probe_at ?? null });
      return { ...n, breaker, last_error, reason };
    }),
    breakers: breakers
      .map((b) => ({ key: b.key, state: b.state, failures: b.failures, opened_at: b.opened_at }))
      .sort((a, b) => a.key.localeCompare(b.key)),
    window: windowStats(db, now, windowMs),
    drain: getFlag(db, "drain"),
    pause: getFlag(db, "pause"),
    reserve: getReservation(db),
    pools: poolUsage(placement?.pools ?? [], activeByExecutorProject(db)),
    ...(placement?.queue ? { queue: queueView(db, now, placement) } : {}),
  };
}

export function queueView(db: Db, now: number, placement: PlacementConfig): QueueView {
  const running = (
    db
      .query(
        `SELECT task_id, run_id, node, attempt, state, started_at FROM runs
         WHERE state IN ('launching','dispatched','running') ORDER BY COALESCE(started_at, created_at), run_id`,
      )
      .all() as Omit<RunningTask, "elapsed_ms" | "started_at_iso">[]
  ).map((r) => ({
    ...r,
    started_at_iso: r.started_at === null ? null : new Date(r.started_at).toISOString(),
    elapsed_ms: r.started_at === null ? null : Math.max(0, now - r.started_at),
  }));
  const waiting = explainWaiting(pendingTasks(db, WAITING_WINDOW), placementFacts(db, now, placement));
  return { running, waiting: topWaiting(waiting.values()) };
}

export function recentEvents(db: Db, limit = 10): EventRow[] {
  return listEvents(db, { limit });
}

/** Most recent dispatch decisions `oyster stats` and /api/stats list by default. */
export const STATS_EVENTS_DEFAULT = 20;
export const STATS_EVENTS_MAX = 1000;

/** The stats window with `last_updated` and the newest `limit` decisions (seeds/004 dispatch_stats). */
export function dispatchStats(
  db: Db,
  now: number,
  windowMs: number,
  limit = STATS_EVENTS_DEFAULT,
): StatsView {
  return statsView(
    windowStats(db, now, windowMs),
    recentDispatchEvents(db, Math.min(Math.max(limit, 0), STATS_EVENTS_MAX)),
    lastDispatchAt(db),
  );
}
