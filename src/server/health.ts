import type { LoopStatus } from "../loops/loop.ts";
import type { StoreCondition, StoreHealth } from "../store/fault.ts";

/**
 * What /health and /ready answer, decided from loop heartbeats alone (pure, so it is unit-tested
 * with made-up clocks). A loop is healthy while its last heartbeat is younger than its
 * `unhealthy_after`; a loop that was stopped on purpose during shutdown is not judged.
 */
export interface LoopHealth {
  cycles: number;
  errors: number;
  interval_s: number;
  unhealthy_after_s: number;
  last_heartbeat_age_s: number | null;
  last_duration_ms: number | null;
  healthy: boolean;
  last_error: string | null;
}

export interface HealthBody {
  // The seed-compatible fields (seeds/000: status, service, uptime, last_heartbeat_age,
  // cycle_count, pid), for scripts written against the Python health module.
  status: "healthy" | "unhealthy" | "shutting_down";
  service: string;
  pid: number;
  /** Whole seconds since start (the seed's `uptime`; same value as `uptime_s`). */
  uptime: number;
  /** Whole seconds since the oldest heartbeat among the loops (the one most behind). */
  last_heartbeat_age: number;
  /** Cycles of the scheduler (or of the one loop a standalone health server has). */
  cycle_count: number;
  version: string;
  uptime_s: number;
  loops: Record<string, LoopHealth>;
  /** Names of the loops that made the verdict unhealthy (empty when healthy). */
  unhealthy: string[];
  /** `oyster run` only: the id of its store and of this start, so a CLI can tell it is its own. */
  store_id?: string;
  instance_id?: string;
  /** The store's disk: anything but "ok" makes the verdict unhealthy (absent: no store here). */
  store?: StoreCondition;
  /** Since when (ms) and why the store is in fault; absent while ok. */
  store_error?: { since: number | null; message: string | null };
}

export interface HealthInput {
  service: string;
  version: string;
  pid: number;
  startedAt: number;
  now: number;
  shuttingDown: boolean;
  loops: LoopStatus[];
  identity?: { store_id: string; instance_id: string };
  store?: StoreHealth;
  /** Whose cycles are `cycle_count` (default "scheduler"; else the first loop). */
  cycleLoop?: string;
}

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

export function loopHealth(l: LoopStatus, now: number): LoopHealth {
  const age = l.last_heartbeat === null ? null : Math.max(0, now - l.last_heartbeat);
  return {
    cycles: l.cycles,
    errors: l.errors,
    interval_s: l.interval_ms / 1000,
    unhealthy_after_s: l.unhealthy_after_ms / 1000,
    last_heartbeat_age_s: age === null ? null : round(age / 1000),
    last_duration_ms: l.last_duration_ms === null ? null : round(l.last_duration_ms, 1),
    healthy: age !== null && age <= l.unhealthy_after_ms,
    last_error: l.last_error,
  };
}

export function healthReport(i: HealthInput): { code: 200 | 503; body: HealthBody } {
  const loops: Record<string, LoopHealth> = {};
  const unhealthy: string[] = [];
  for (const l of i.loops) {
    const h = loopHealth(l, i.now);
    loops[l.name] = h;
    if (!h.healthy) unhealthy.push(l.name);
  }
  const storeBad = i.store !== undefined && i.store.state !== "ok";
  const uptime = Math.floor((i.now - i.startedAt) / 1000);
  // A loop that never beat (not started yet) is as old as the process.
  const oldest = Math.min(...i.loops.map((l) => l.last_heartbeat ?? i.startedAt));
  const counted = i.loops.find((l) => l.name === (i.cycleLoop ?? "scheduler")) ?? i.loops[0];
  const status = i.shuttingDown ? "shutting_down" : unhealthy.length || storeBad ? "unhealthy" : "healthy";
  return {
    code: status === "healthy" ? 200 : 503,
    body: {
      status,
      service: i.service,
      pid: i.pid,
      uptime,
      last_heartbeat_age: i.loops.length ? Math.max(0, Math.floor((i.now - oldest) / 1000)) : 0,
      cycle_count: counted?.cycles ?? 0,
      version: i.version,
      uptime_s: uptime,
      loops,
      unhealthy,
      ...i.identity,
      ...(i.store && { store: i.store.state }),
      ...(storeBad && i.store && { store_error: { since: i.store.since, message: i.store.last_error } }),
    },
  };
}

/** One line saying why, for `oyster health` and logs. */
export function healthReason(body: HealthBody): string {
  if (body.status === "shutting_down") return "shutting down";
  if (body.status === "healthy") {
    const n = Object.keys(body.loops).length;
    return `healthy: ${n} loop(s) turning, up ${body.uptime_s}s`;
  }
  const parts: string[] = [];
  if (body.store && body.store !== "ok")
    parts.push(
      `store ${body.store.replace("_", " ")}${body.store_error?.message ? ` (${body.store_error.message})` : ""}`,
    );
  parts.push(
    ...body.unhealthy.map((name) => {
      const l = body.loops[name];
      if (!l) return name;
      const age = l.last_heartbeat_age_s === null ? "never" : `${l.last_heartbeat_age_s}s ago`;
      return `${name} (last heartbeat ${age}, limit ${l.unhealthy_after_s}s${l.last_error ? `, last error: ${l.last_error}` : ""})`;
    }),
  );
  return `unhealthy: ${parts.join("; ")}`;
}

/** What stands in for a file path in what anonymous callers see. */
export const PATH_MASK = "<path>";

/**
 * Any word with a slash or backslash in it is taken for a path (or URL) and masked: error texts
 * come from SQLite, the OS and ssh, so there is no list of paths to look for. Over-masking a
 * fraction like "3/5" is the price of never leaking one.
 */
export function maskPaths(text: string): string {
  return text.replace(/[^\s"'`()<>[\]{},;]*[/\\][^\s"'`()<>[\]{},;]*/g, PATH_MASK);
}

/**
 * /health as an unauthenticated caller beyond loopback sees it (seeds/003: minimal information):
 * the same verdict and numbers, error texts without file paths. The full text stays in
 * /api/status (token) and in the log.
 */
export function publicHealth(body: HealthBody): HealthBody {
  const loops: Record<string, LoopHealth> = {};
  for (const [name, l] of Object.entries(body.loops))
    loops[name] = { ...l, last_error: l.last_error === null ? null : maskPaths(l.last_error) };
  return {
    ...body,
    loops,
    ...(body.store_error && {
      store_error: {
        ...body.store_error,
        message: body.store_error.message === null ? null : maskPaths(body.store_error.message),
      },
    }),
  };
}
