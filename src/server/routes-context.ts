import type { Config } from "../config/schema.ts";
import { type BreakerPolicy, breakerPolicy } from "../dispatch/breaker.ts";
import type { LoopStatus } from "../loops/loop.ts";
import type { Transport } from "../remote/transport.ts";
import type { Store } from "../store/db.ts";
import { VERSION } from "../version.ts";
import { healthReport } from "./health.ts";
import { type FleetSnapshot, fleetSnapshot } from "./snapshot.ts";

/**
 * What the controller hands its HTTP surface (app.ts), and the few things every route group
 * derives from it once: the breaker policy, the placement view, the fleet snapshot, the health
 * report.
 */
export interface AppDeps {
  service: string;
  startedAt: number;
  store: Store;
  config: Config;
  loops: () => LoopStatus[];
  state: { ready: boolean; shuttingDown: boolean };
  now?: () => number;
  /** The API token (default `config.http.token`); empty means no request can change anything. */
  token?: string;
  /** The bound port, for the Host check; undefined until bound. */
  port?: () => number | undefined;
  /** Reported by /health and /api/status so the CLI can tell its own controller from another. */
  identity?: { store_id: string; instance_id: string };
  /** Node connections, for `/api/tasks/:id/logs` (logs-route.ts). */
  transports?: Map<string, Transport>;
}

export interface RoutesContext {
  deps: AppDeps;
  store: Store;
  config: Config;
  now: () => number;
  token: string;
  policy: BreakerPolicy;
  placement: Config & { breakerPolicy: BreakerPolicy };
  snapshot: () => FleetSnapshot;
  health: () => ReturnType<typeof healthReport>;
}

export function routesContext(deps: AppDeps): RoutesContext {
  const now = deps.now ?? Date.now;
  const { store, config } = deps;
  const policy = breakerPolicy(config.breaker);
  const placement = { ...config, breakerPolicy: policy };
  return {
    deps,
    store,
    config,
    now,
    token: deps.token ?? config.http.token.trim(),
    policy,
    placement,
    snapshot: () => store.read((db) => fleetSnapshot(db, now(), config.dispatch.window, policy, placement)),
    health: () =>
      healthReport({
        service: deps.service,
        version: VERSION,
        pid: process.pid,
        startedAt: deps.startedAt,
        now: now(),
        shuttingDown: deps.state.shuttingDown,
        loops: deps.loops(),
        identity: deps.identity,
        store: store.health(),
      }),
  };
}

/** A positive (or ≥ `min`) integer query parameter; `dflt` when absent; null when malformed. */
export function intParam(v: string | undefined, dflt: number, min = 1): number | null {
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= min ? n : null;
}
