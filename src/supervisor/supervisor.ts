import type { Config } from "../config/schema.ts";
import { logger } from "../log.ts";
import { createNotifier } from "../notify.ts";
import { type ControlServer, startControlServer } from "./control.ts";
import { localRunner } from "./local.ts";
import { RotatingLog } from "./logfile.ts";
import { configBase, type PlannedService, planServices } from "./plan.ts";
import type { Runner } from "./runner.ts";
import { Service } from "./service.ts";

/** Exit code after a second Ctrl+C (128 + SIGINT), as shells report it. */
export const EXIT_INTERRUPTED = 130;

export interface Supervisor {
  services: Map<string, Service>;
  /** Resolves with the exit code once the supervisor has shut down. */
  done: Promise<number>;
  /** Graceful shutdown (as on SIGTERM). */
  shutdown(): Promise<void>;
}

/**
 * Start every service and the control socket, and handle SIGTERM/SIGINT: the first signal stops
 * every service's process group gracefully (SIGTERM, stop_timeout, SIGKILL) and exits 0; a second
 * one SIGKILLs what is left and exits 130 at once.
 */
export async function startSupervisor(config: Config, configPath: string | null): Promise<Supervisor> {
  const log = logger("supervise");
  const planned = planServices(config, configPath, configBase(configPath));
  const notify = createNotifier(config.notify.webhook, config.notify.timeout);
  // ssh2 (and node:crypto, node:net behind it) costs ~12 MB of RSS: load it only for remote services.
  const remote = planned.some((p) => p.node) ? await import("./remote.ts") : null;
  const services = new Map<string, Service>();
  const files: RotatingLog[] = [];
  const runners: Runner[] = [];
  for (const p of planned) {
    const file = new RotatingLog(p.logFile, p.cfg.log.max_size_mb * 1024 * 1024, p.cfg.log.keep);
    files.push(file);
    const runner = makeRunner(p, file, config, remote);
    runners.push(runner);
    services.set(p.cfg.name, new Service(p.cfg, runner, { log, file, alert: notify }));
  }

  let control: ControlServer;
  try {
    control = await startControlServer(config.state_dir, services);
  } catch (err) {
    for (const f of files) f.close();
    throw err;
  }

  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((r) => {
    finish = r;
  });
  let closing: Promise<void> | null = null;
  const shutdown = (): Promise<void> => {
    closing ??= (async () => {
      log.info(`stopping ${services.size} service(s)`);
      control.stop();
      await Promise.all([...services.values()].map((s) => s.shutdown()));
      await Promise.all(runners.map((r) => r.close()));
      for (const f of files) f.close();
      log.info("all services stopped");
      finish(0);
    })();
    return closing;
  };
  const onSignal = (sig: NodeJS.Signals) => {
    if (closing) {
      log.warn(`${sig} again: killing every service now`);
      for (const s of services.values()) s.killNow();
      control.stop();
      finish(EXIT_INTERRUPTED);
      return;
    }
    log.info(`${sig}: shutting down (again to force)`);
    void shutdown();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // The supervisor outlives terminal hang-ups; only SIGTERM/SIGINT stop it.
  process.on("SIGHUP", () => log.info("SIGHUP ignored"));

  log.info(`supervising ${[...services.keys()].join(", ")} (control socket ${control.path})`);
  await Promise.all([...services.values()].map((s) => s.start()));
  return { services, done, shutdown };
}

function makeRunner(
  p: PlannedService,
  file: RotatingLog,
  config: Config,
  remote: typeof import("./remote.ts") | null,
): Runner {
  if (!p.node) return localRunner(p.cfg, file, p.healthUrl);
  if (!remote) throw new Error(`service "${p.cfg.name}": remote runner not loaded`);
  return remote.remoteRunner(p.cfg, p.node, file, {
    connectTimeoutMs: config.ssh.connect_timeout,
    keepaliveMs: config.ssh.keepalive,
    commandTimeoutMs: config.ssh.command_timeout,
  });
}
