import { randomUUID } from "node:crypto";
import type { Config } from "./config/schema.ts";
import { logger } from "./log.ts";
import { createCanceller } from "./loops/cancel.ts";
import type { ControllerContext } from "./loops/context.ts";
import { createFactory } from "./loops/factory.ts";
import { createGuardian } from "./loops/guardian.ts";
import { createLoop, type Loop } from "./loops/loop.ts";
import { createProbe } from "./loops/probe.ts";
import { createReaper } from "./loops/reaper.ts";
import { applyRunStatus } from "./loops/run-status.ts";
import { createScheduler } from "./loops/scheduler.ts";
import { wallClock } from "./loops/test-hooks.ts";
import { metrics } from "./metrics.ts";
import { createNotifier } from "./notify.ts";
import { withTimeout } from "./os/deadline.ts";
import { createTransports } from "./remote/index.ts";
import type { Transport } from "./remote/transport.ts";
import { createApp } from "./server/app.ts";
import { isLoopback, type RunningServer, ServeError, serveApp } from "./server/serve.ts";
import { ensureToken, exposedTokenProblem, TokenError } from "./server/token.ts";
import { openStore, type Store } from "./store/db.ts";
import { retryDeferred, retryOnFullDisk } from "./store/deferred.ts";
import { ensureStoreId } from "./store/identity.ts";
import { acquireLease } from "./store/lease.ts";
import { upsertConfiguredNodes } from "./store/nodes.ts";
import { clearSetting, setSetting } from "./store/settings.ts";

const log = logger("controller");

/** All loops together get this long to finish their current cycle at shutdown (exit must fit in 10 s). */
export const LOOP_STOP_TIMEOUT_MS = 5_000;

export interface ControllerState {
  /** Store open and migrated, loops started: /ready answers 200. */
  ready: boolean;
  /** Shutdown began: /health and /ready answer 503 at once. */
  shuttingDown: boolean;
}

export interface Controller {
  ctx: ControllerContext;
  loops: Loop[];
  state: ControllerState;
  startedAt: number;
  /** null when http is disabled or the port could not be bound (the controller runs on). */
  http: RunningServer | null;
  stop(): Promise<void>;
}

/**
 * Start everything `oyster run` is: one store connection, the transports, the loops. Startup
 * undoes what it started if a later step fails. Shutdown stops producers (scheduler) before
 * consumers (reaper), then closes transports and the store.
 */
export async function startController(config: Config): Promise<Controller> {
  const startedAt = Date.now();
  const state: ControllerState = { ready: false, shuttingDown: false };
  // Before the store opens, so a refused token leaves nothing behind.
  const token = config.http.enabled ? apiToken(config) : "";
  // One controller per store: the lease comes first, so a second one touches nothing.
  const lease = config.store === ":memory:" ? null : acquireLease(config.store);
  let store: Store;
  let transports: Map<string, Transport>;
  const identity: { store_id: string; instance_id: string } = { store_id: "", instance_id: randomUUID() };
  try {
    store = openStore(config.store, { check: true });
  } catch (err) {
    lease?.release();
    throw err;
  }
  try {
    retryOnFullDisk(store, "record the lease and the configured nodes", () =>
      store.tx((db) => {
        lease?.record(db);
        upsertConfiguredNodes(db, config.nodes, Date.now());
      }),
    );
    // Written once per store; on a full disk the id comes when the disk takes writes again.
    retryOnFullDisk(store, "give the store its id", () => {
      identity.store_id = store.tx((db) => ensureStoreId(db));
    });
    transports = createTransports(config);
  } catch (err) {
    lease?.release(store.db);
    store.close();
    throw err;
  }
  const loopsByName = new Map<string, Loop>();
  const ctx: ControllerContext = {
    store,
    config,
    transports,
    now: wallClock(),
    notify: createNotifier(config.notify.webhook, config.notify.timeout),
    launching: new Set(),
    wakeScheduler: () => loopsByName.get("scheduler")?.wake(),
  };
  for (const t of transports.values()) {
    t.onRunFinished((s) => {
      try {
        applyRunStatus(ctx, t.node, s);
      } catch (err) {
        log.error(`could not record the end of run ${s.run_id}: ${(err as Error).message}`, {
          run: s.run_id,
          task: s.task_id,
          node: t.node,
        });
      }
    });
  }

  // Each loop declares the slice of the context it uses (its …Deps type); the whole context
  // satisfies every one of them, so the loops are built from it directly.
  const scheduler = createScheduler(ctx);
  const canceller = createCanceller(ctx);
  // The probe reconciles a node that answers again through the reaper (created just below).
  const probe = createProbe(ctx, { onBack: (node) => reaper.catchUp(node) });
  const reaper = createReaper(ctx, { probeNodes: probe.probeNodes });
  // Runs that ended while a node's session was down are recorded the moment it answers again.
  for (const t of transports.values()) t.onReconnected?.(() => void reaper.catchUp(t.node));
  const hang = process.env.OYSTER_TEST_HANG_LOOP; // test hook: make one loop stop turning
  const ticks: Record<keyof Config["loops"], (cycle: number) => Promise<void>> = {
    // Cancels first: a cancelled run's slot is free for this very tick.
    scheduler: async (cycle) => {
      // A failing cancel must not stop dispatch; the loop's own error handling covers the rest.
      await canceller.tick().catch((err: unknown) => log.warn(`cancel: ${(err as Error).message}`));
      await scheduler.tick(cycle);
    },
    probe: probe.tick,
    reaper: reaper.tick,
    guardian: createGuardian(ctx).tick,
    factory: createFactory(ctx).tick,
  };
  for (const [name, tick] of Object.entries(ticks) as [
    keyof Config["loops"],
    (c: number) => Promise<void>,
  ][]) {
    const lc = config.loops[name];
    const loop = createLoop({
      name,
      intervalMs: lc.interval,
      unhealthyAfterMs: lc.unhealthy_after,
      tick:
        hang === name
          ? async (cycle) => {
              if (cycle >= 2) await new Promise(() => {});
              await tick(cycle);
            }
          : tick,
      onCycle: (n, ms) => metrics.loopCycleSeconds.observe({ loop: n }, ms / 1000),
    });
    loopsByName.set(name, loop);
  }
  const loops = [...loopsByName.values()];
  // Probe first so the scheduler's first tick already knows which nodes answer.
  await loopsByName.get("probe")!.tick();
  for (const l of loops) l.start();
  // A store in fault is retried by every loop's writes; an idle fleet has none, so probe too.
  const storeProbe = setInterval(() => {
    store.probeWrite();
    retryDeferred(store);
  }, config.loops.scheduler.interval);
  state.ready = true;
  const http = config.http.enabled
    ? startHttp(config, { store, startedAt, loops, state, token, identity, transports })
    : null;

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      state.shuttingDown = true;
      state.ready = false;
      const launches = scheduler.stop();
      // Producers first: no new launches while consumers finish their cycle. One budget for all
      // loops, so two hung loops cannot add up past the 10 s exit deadline.
      const deadline = Date.now() + LOOP_STOP_TIMEOUT_MS;
      await loopsByName.get("scheduler")!.stop(LOOP_STOP_TIMEOUT_MS);
      // Launches still waiting on a node: one left behind stays `launching` for the next reaper.
      await withTimeout(launches, Math.max(0, deadline - Date.now()), "launches").catch(() => {});
      const left = Math.max(0, deadline - Date.now());
      await Promise.all(loops.filter((l) => l.name !== "scheduler").map((l) => l.stop(left)));
      // /health kept answering 503 until here, so a balancer or probe saw the shutdown coming.
      await http?.stop().catch(() => {});
      if (http) {
        try {
          store.tx((db) => clearSetting(db, "http_url", http.url));
        } catch {
          // Only a hint for `oyster status`; a stale URL is noticed as unreachable.
        }
      }
      await Promise.all([...transports.values()].map((t) => t.close().catch(() => {})));
      clearInterval(storeProbe);
      lease?.release(store.db);
      store.close();
    })();
    return stopping;
  };
  return { ctx, loops, state, startedAt, http, stop };
}

/** The API token (configured, else generated into state_dir); a short one is refused beyond loopback. */
function apiToken(config: Config): string {
  const t = ensureToken(config);
  const problem = exposedTokenProblem(config.http.host, t, isLoopback(config.http.host));
  if (problem) throw new TokenError(problem);
  return t.token;
}

/**
 * Bind the HTTP server once the loops turn. A taken port is logged and the controller keeps
 * dispatching without HTTP (seeds/003): scheduling matters more than its dashboard. The bound
 * URL goes into the store so `oyster status` finds the controller even on a random port.
 */
function startHttp(
  config: Config,
  deps: {
    store: Store;
    startedAt: number;
    loops: Loop[];
    state: ControllerState;
    token: string;
    identity: { store_id: string; instance_id: string };
    transports: Map<string, Transport>;
  },
): RunningServer | null {
  let server: RunningServer | undefined;
  const app = createApp({
    token: deps.token,
    identity: deps.identity,
    port: () => server?.port,
    service: "oyster",
    startedAt: deps.startedAt,
    store: deps.store,
    config,
    loops: () => deps.loops.map((l) => l.status()),
    state: deps.state,
    transports: deps.transports,
  });
  try {
    server = serveApp(app, config.http.host, config.http.port);
  } catch (err) {
    if (!(err instanceof ServeError)) throw err;
    log.error(`${err.message}; the controller keeps running without /health and /metrics`);
    return null;
  }
  retryOnFullDisk(deps.store, "record the HTTP URL", () =>
    deps.store.tx((db) => setSetting(db, "http_url", server.url)),
  );
  log.info(`http: ${server.url} (/health, /ready, /metrics, /api)`);
  return server;
}
