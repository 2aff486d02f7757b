import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import type { Config } from "../config/schema.ts";
import { logger } from "../log.ts";
import { createNotifier } from "../notify.ts";
import type { RunningServer } from "../server/serve.ts";
import { SupervisorNotRunning, SupervisorRequestError, socketPath, supervisorRequest } from "./client.ts";
import { type ControlServer, startControlServer } from "./control.ts";
import { startSupervisorHttp } from "./http.ts";
import type { Runner } from "./instance.ts";
import { stopLeftovers } from "./leftovers.ts";
import { loadLibc } from "./libc.ts";
import { type LocalContext, localRunner } from "./local.ts";
import { acquireLock, SupervisorLocked } from "./lock.ts";
import { RotatingLog } from "./logfile.ts";
import { Orphans } from "./orphans.ts";
import { configBase, type PlannedService, planServices } from "./plan.ts";
import { Registry } from "./registry.ts";
import { Service } from "./service.ts";
import { terminate } from "./tracking.ts";

/** Exit code after a second Ctrl+C (128 + SIGINT), as shells report it. */
export const EXIT_INTERRUPTED = 130;
/** How often adopted orphans that have exited are reaped (subreaper only). */
const ORPHAN_SWEEP_MS = 1_000;
/** Grace for marked leftovers of services no longer in the config. */
const LEFTOVER_GRACE_MS = 5_000;

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
  const local = await claimStateDir(config.state_dir, planned, log);
  const services = new Map<string, Service>();
  const files: RotatingLog[] = [];
  const runners: Runner[] = [];
  for (const p of planned) {
    const file = new RotatingLog(p.logFile, p.cfg.log.max_size_mb * 1024 * 1024, p.cfg.log.keep);
    files.push(file);
    const runner = makeRunner(p, file, config, remote, local);
    runners.push(runner);
    services.set(p.cfg.name, new Service(p.cfg, runner, { log, file, alert: notify }));
  }

  let control: ControlServer;
  let http: RunningServer | null = null;
  try {
    control = await startControlServer(config.state_dir, services);
    try {
      if (config.supervise.http.enabled)
        http = startSupervisorHttp(config.supervise.http, config.state_dir, () =>
          [...services.values()].map((s) => s.status()),
        );
    } catch (err) {
      control.stop();
      throw err;
    }
  } catch (err) {
    for (const f of files) f.close();
    local.orphans?.stop();
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
      await http?.stop();
      await Promise.all([...services.values()].map((s) => s.shutdown()));
      await Promise.all(runners.map((r) => r.close()));
      await stopStrays(local, log);
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
      void http?.stop();
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

  log.info(
    `supervising ${[...services.keys()].join(", ")} (control socket ${control.path}${http ? `, /health and /metrics on ${http.url}` : ""})`,
  );
  await Promise.all([...services.values()].map((s) => s.start()));
  return { services, done, shutdown };
}

/**
 * Make the state dir this supervisor's before anything starts: take its lock (a second supervisor
 * is refused, naming the holder), become a child subreaper where possible (an orphaned daemon of a
 * service becomes our child, not init's), stop whatever a previous supervisor left running, and
 * start a fresh registry of the local instances.
 */
async function claimStateDir(
  stateDir: string,
  planned: PlannedService[],
  log: ReturnType<typeof logger>,
): Promise<LocalContext> {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const libc = await loadLibc();
  const holder = acquireLock(stateDir, libc);
  // Without the OS lock, ask the control socket before stopping anything "left over": those
  // could be the services of a supervisor that is very much alive.
  if (!holder && (await supervisorAnswers(stateDir)))
    throw new SupervisorLocked(`another supervisor is already running on ${socketPath(stateDir)}`);
  let orphans: Orphans | null = null;
  if (libc?.becomeSubreaper()) {
    orphans = new Orphans(libc);
    orphans.start(ORPHAN_SWEEP_MS);
  } else log.debug("not a child subreaper here: services are tracked by process group and marker only");
  const grace = new Map(planned.map((p) => [p.cfg.name, p.cfg.stop_timeout]));
  await stopLeftovers(stateDir, (n) => grace.get(n) ?? LEFTOVER_GRACE_MS, LEFTOVER_GRACE_MS, log);
  const registry = new Registry(
    stateDir,
    holder ?? { pid: process.pid, host: hostname(), since: new Date().toISOString() },
  );
  return { stateDir, registry, orphans };
}

async function supervisorAnswers(stateDir: string): Promise<boolean> {
  try {
    await supervisorRequest(stateDir, "GET", "/services", 1_000);
    return true;
  } catch (err) {
    if (err instanceof SupervisorNotRunning) return false;
    // It answered, if with an error: someone is there.
    if (err instanceof SupervisorRequestError) return true;
    throw err;
  }
}

/**
 * After every service stopped: processes still carrying a marker go too. Orphans adopted as
 * subreaper that carry none removed it on purpose (oyster's own run wrappers, which outlive the
 * controller; `env -u OYSTER_SUPERVISED`): they are left running, and named in the log.
 */
async function stopStrays(ctx: LocalContext, log: ReturnType<typeof logger>): Promise<void> {
  await terminate({ stateDir: ctx.stateDir, name: null }, 1_000);
  const detached = ctx.orphans?.strays() ?? [];
  if (detached.length > 0)
    log.info(
      `leaving ${detached.length} detached process(es) running (no service marker): ${detached.map((s) => s.pid).join(", ")}`,
    );
  ctx.orphans?.stop();
}

function makeRunner(
  p: PlannedService,
  file: RotatingLog,
  config: Config,
  remote: typeof import("./remote.ts") | null,
  local: LocalContext,
): Runner {
  if (!p.node) return localRunner(p.cfg, file, p.healthUrl, local);
  if (!remote) throw new Error(`service "${p.cfg.name}": remote runner not loaded`);
  return remote.remoteRunner(p.cfg, p.node, file, {
    connectTimeoutMs: config.ssh.connect_timeout,
    keepaliveMs: config.ssh.keepalive,
    commandTimeoutMs: config.ssh.command_timeout,
  });
}
