import { type BreakerPolicy, breakerPolicy } from "../dispatch/breaker.ts";
import type { DecisionInput, LockHolder, ReadyTask } from "../dispatch/placement.ts";
import { type PoolSpec, parseReservation, poolUsage, type Reservation } from "../dispatch/slots.ts";
import { ACTIVE_RUN_STATES, sqlIn, UNLUCKY_RUN_STATES } from "../dispatch/states.ts";
import { explainWaiting, type PendingTask, type Waiting } from "../dispatch/waiting.ts";
import { loadBreakers } from "./breakers.ts";
import type { Db } from "./db.ts";
import { leasedTasks, lockedPaths, nodeViews } from "./dispatch.ts";
import { windowStats } from "./dispatch-events.ts";
import { getFlag, getSetting, type SettingKey, setSetting } from "./settings.ts";

/** The config a placement decision reads beside the store. */
export interface PlacementConfig {
  pools: PoolSpec[];
  breakerPolicy: BreakerPolicy;
  dispatch: { window: number; min_success_rate: number; min_samples: number; max_per_tick: number };
  resources: DecisionInput["thresholds"];
}

/**
 * Everything a decision needs except the ready tasks, read in one transaction: the scheduler
 * decides from it, and `oyster tasks` / `/api/tasks` explain waiting tasks from the very same
 * facts (src/dispatch/waiting.ts), so the reason shown is the reason the scheduler has.
 */
export function placementFacts(
  db: Db,
  now: number,
  cfg: PlacementConfig,
): Omit<DecisionInput, "ready" | "maxLaunches"> {
  return {
    now,
    lockedPaths: lockedPaths(db),
    leased: leasedTasks(db),
    nodes: nodeViews(db),
    breakers: loadBreakers(db),
    drain: getFlag(db, "drain"),
    pause: getFlag(db, "pause"),
    stats: windowStats(db, now, cfg.dispatch.window),
    breakerPolicy: cfg.breakerPolicy,
    minSuccessRate: cfg.dispatch.min_success_rate,
    minSamples: cfg.dispatch.min_samples,
    thresholds: cfg.resources,
    pools: poolUsage(cfg.pools, activeByExecutorProject(db)),
    reserve: getReservation(db),
    lockHolders: lockHolders(db),
  };
}

/** Active runs counted by their task's executor and project: what pools are filled with. */
export function activeByExecutorProject(db: Db): { executor: string; project: string; n: number }[] {
  return db
    .query(
      `SELECT t.executor, t.project, COUNT(*) AS n FROM runs r JOIN tasks t ON t.task_id = r.task_id
       WHERE r.state IN ${sqlIn(ACTIVE_RUN_STATES)} GROUP BY t.executor, t.project`,
    )
    .all() as { executor: string; project: string; n: number }[];
}

export function lockHolders(db: Db): Map<string, LockHolder> {
  const rows = db
    .query(
      "SELECT l.path, l.task_id, l.run_id, r.node FROM file_locks l LEFT JOIN runs r ON r.run_id = l.run_id",
    )
    .all() as { path: string; task_id: string; run_id: string; node: string | null }[];
  return new Map(rows.map((r) => [r.path, { task_id: r.task_id, run_id: r.run_id, node: r.node }]));
}

const RESERVE: SettingKey = "reserve";

export function getReservation(db: Db): Reservation {
  return parseReservation(getSetting(db, RESERVE));
}

export function setReservation(db: Db, r: Reservation, now = Date.now()): void {
  setSetting(db, RESERVE, JSON.stringify(r), now);
}

/**
 * Pending tasks in scheduler order with what holds them before placement: their dependencies'
 * statuses and their retry backoff. Capped like the scheduler's ready window.
 */
export function pendingTasks(db: Db, limit: number): PendingTask[] {
  const rows = db
    .query(
      `SELECT t.task_id, t.executor, t.project, t.not_before,
         (SELECT r.node FROM runs r WHERE r.task_id = t.task_id AND r.state IN ${sqlIn(UNLUCKY_RUN_STATES)}
          ORDER BY r.attempt DESC LIMIT 1) AS avoid
       FROM tasks t WHERE t.status = 'pending'
       ORDER BY t.priority, t.created_at, t.rowid LIMIT ?`,
    )
    .all(limit) as (Omit<ReadyTask, "paths"> & { project: string; not_before: number })[];
  const pathsQ = db.query("SELECT path FROM task_paths WHERE task_id = ?");
  const depsQ = db.query(
    "SELECT d.depends_on AS task_id, u.status AS status FROM task_deps d LEFT JOIN tasks u ON u.task_id = d.depends_on WHERE d.task_id = ? ORDER BY d.depends_on",
  );
  return rows.map((r) => ({
    ...r,
    paths: (pathsQ.all(r.task_id) as { path: string }[]).map((p) => p.path),
    deps: depsQ.all(r.task_id) as { task_id: string; status: string | null }[],
  }));
}

/**
 * Why each pending task waits, from the scheduler's own decision on the store as it is now
 * (src/dispatch/waiting.ts). Looks at the first `window` pending tasks in scheduler order.
 */
export function waitingReasons(
  db: Db,
  now: number,
  cfg: PlacementConfig,
  window: number,
): Map<string, Waiting> {
  return explainWaiting(pendingTasks(db, window), placementFacts(db, now, cfg));
}

export function modifiesOf(db: Db, taskIds: readonly string[]): Map<string, string[]> {
  const q = db.query("SELECT path FROM task_paths WHERE task_id = ? ORDER BY path");
  return new Map(taskIds.map((id) => [id, (q.all(id) as { path: string }[]).map((r) => r.path)]));
}

/** The placement part of a loaded config (pools, dispatch gate, thresholds, breakers). */
export function placementConfig(cfg: {
  pools: PoolSpec[];
  breaker: { failures: number; open_for: number };
  dispatch: PlacementConfig["dispatch"];
  resources: PlacementConfig["resources"];
}): PlacementConfig {
  return { ...cfg, breakerPolicy: breakerPolicy(cfg.breaker) };
}
