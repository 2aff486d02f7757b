import type { Config } from "./config/schema.ts";
import { logger } from "./log.ts";
import type { ControllerContext } from "./loops/context.ts";
import { createFactory } from "./loops/factory.ts";
import { createGuardian } from "./loops/guardian.ts";
import { createProbe } from "./loops/probe.ts";
import { createReaper } from "./loops/reaper.ts";
import { applyRunStatus } from "./loops/run-status.ts";
import { createLoop, type Loop } from "./loops/runner.ts";
import { createScheduler } from "./loops/scheduler.ts";
import { metrics } from "./metrics.ts";
import { createNotifier } from "./notify.ts";
import { createTransports } from "./remote/index.ts";
import type { Transport } from "./remote/transport.ts";
import { openStore, type Store } from "./store/db.ts";
import { upsertConfiguredNodes } from "./store/nodes.ts";

const log = logger("controller");

/** Loops get this long to finish their current cycle at shutdown (the whole exit must fit in 10 s). */
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
  const store: Store = openStore(config.store);
  let transports: Map<string, Transport>;
  try {
    store.tx((db) => upsertConfiguredNodes(db, config.nodes, Date.now()));
    transports = createTransports(config);
  } catch (err) {
    store.close();
    throw err;
  }
  const loopsByName = new Map<string, Loop>();
  const ctx: ControllerContext = {
    store,
    config,
    transports,
    now: Date.now,
    notify: createNotifier(config.notify.webhook, config.notify.timeout),
    launching: new Set(),
    wakeScheduler: () => loopsByName.get("scheduler")?.wake(),
  };
  for (const t of transports.values()) {
    t.onRunFinished((s) => {
      try {
        applyRunStatus(ctx, s);
      } catch (err) {
        log.error(`could not record the end of run ${s.run_id}: ${(err as Error).message}`);
      }
    });
  }

  const scheduler = createScheduler(ctx);
  const probe = createProbe(ctx);
  const hang = process.env.OYSTER_TEST_HANG_LOOP; // test hook: make one loop stop turning
  const ticks: Record<keyof Config["loops"], (cycle: number) => Promise<void>> = {
    scheduler: scheduler.tick,
    probe: probe.tick,
    reaper: createReaper(ctx, { probeNodes: probe.probeNodes }).tick,
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
  state.ready = true;

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      state.shuttingDown = true;
      state.ready = false;
      scheduler.stop();
      // Producers first: no new launches while consumers finish their cycle.
      await loopsByName.get("scheduler")!.stop(LOOP_STOP_TIMEOUT_MS);
      await Promise.all(loops.filter((l) => l.name !== "scheduler").map((l) => l.stop(LOOP_STOP_TIMEOUT_MS)));
      await Promise.all([...transports.values()].map((t) => t.close().catch(() => {})));
      store.close();
    })();
    return stopping;
  };
  return { ctx, loops, state, startedAt, stop };
}
