import type { ConsolaInstance } from "consola";
import type { ServiceConfig } from "../config/services.ts";
import type { Instance, Runner } from "./instance.ts";
import type { RotatingLog } from "./logfile.ts";
import {
  crashLoopAlert,
  freshLedger,
  type HealthCounter,
  onFailure,
  onHealthResult,
  type RestartLedger,
  shouldReset,
} from "./policy.ts";
import type { HealthState, ServiceState, ServiceStatus } from "./types.ts";

/** While a fresh instance is in its grace period and not yet healthy, probe this often so it is
 * seen healthy quickly after a restart (normal checks then follow `health.interval`): every
 * 20 ms for its first second (most services are up by then), then every 100 ms. */
const STARTING_PROBE_FAST_MS = 20;
const STARTING_PROBE_MS = 100;
const STARTING_FAST_FOR_MS = 1_000;
/** Without a health check, an instance that stayed up this long counts as having been healthy. */
const MIN_UPTIME_MS = 1_000;

/**
 * The time a service sees: every delay (backoff, health interval) goes through `after`, so a test
 * can drive the state machine with a clock it advances by hand instead of waiting.
 */
export interface ServiceClock {
  now(): number;
  /** Call `fn` once `ms` have passed; the returned function cancels it. */
  after(ms: number, fn: () => void): () => void;
}

const realClock: ServiceClock = {
  now: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    return () => clearTimeout(t);
  },
};

export interface ServiceDeps {
  log: ConsolaInstance;
  file: RotatingLog;
  /** Alert hook: error log is written here too; the supervisor adds the webhook. */
  alert: (payload: Record<string, unknown>) => void;
  clock?: ServiceClock;
}

/**
 * One supervised service: start, watch exit and health, restart with backoff, stop on request.
 * Every asynchronous event carries the instance generation it belongs to; events of an older
 * instance are ignored, so a restart and a late exit can never start two instances.
 */
export class Service {
  private state: ServiceState = "stopped";
  private health: HealthState;
  private instance: Instance | null = null;
  private gen = 0;
  private startedAt: number | null = null;
  private healthySince: number | null = null;
  private everHealthy = false;
  private counter: HealthCounter = { consecutiveFailures: 0 };
  private ledger: RestartLedger = freshLedger();
  private restarts = 0;
  private alerts = 0;
  private lastError: string | null = null;
  private lastExit: string | null = null;
  private lastExitAt: number | null = null;
  /** Cancels the pending restart of a backoff. */
  private cancelRestart: (() => void) | null = null;
  private nextStartAt: number | null = null;
  /** Chains operator actions so restart/stop/start never overlap. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly clock: ServiceClock;
  /** The launch in flight, so shutdown can wait for it (a remote start may be mid-connect). */
  private launching: Promise<void> | null = null;

  constructor(
    readonly cfg: ServiceConfig,
    private readonly runner: Runner,
    private readonly deps: ServiceDeps,
  ) {
    this.clock = deps.clock ?? realClock;
    this.health = cfg.health ? "unknown" : "none";
  }

  get name(): string {
    return this.cfg.name;
  }

  status(): ServiceStatus {
    return {
      name: this.cfg.name,
      host: this.runner.host,
      pid: this.instance?.pid ?? null,
      status: this.state,
      started_at: this.instance ? this.startedAt : null,
      health: this.instance ? this.health : this.cfg.health ? "unknown" : "none",
      restarts: this.restarts,
      streak: this.ledger.streak,
      next_start_at: this.state === "backoff" ? this.nextStartAt : null,
      last_error: this.lastError,
      last_exit: this.lastExit,
      last_exit_at: this.lastExitAt,
      crash_loop_alerts: this.alerts,
      log_file: this.deps.file.path,
    };
  }

  /**
   * Start if stopped (operator `start`, or supervisor start-up). In backoff it starts now instead
   * of waiting out the delay: the operator asked for it (the crash-loop count is kept).
   */
  start(): Promise<ServiceStatus> {
    return this.serial(async () => {
      if (this.state === "backoff") {
        this.clearTimer();
        await this.launch();
        return;
      }
      if (this.state !== "stopped") return;
      this.ledger = freshLedger();
      await this.launch();
    });
  }

  /** Stop and stay stopped until `start`. */
  stop(): Promise<ServiceStatus> {
    return this.serial(() => this.halt("stopped by request"));
  }

  /** Stop the current instance (gracefully) and start a new one at once. */
  restart(): Promise<ServiceStatus> {
    return this.serial(async () => {
      const wasRunning = this.instance !== null;
      await this.halt("restart requested");
      if (wasRunning) this.restarts++;
      this.ledger = freshLedger();
      await this.launch();
    });
  }

  /** Supervisor shutdown: stop without queueing behind a pending operator action. */
  async shutdown(): Promise<void> {
    await this.halt("supervisor shutting down");
    if (this.launching) await this.launching;
  }

  /** Second signal: SIGKILL the group now. */
  killNow(): void {
    this.instance?.kill();
  }

  private serial(fn: () => Promise<void>): Promise<ServiceStatus> {
    const next = this.queue.then(fn, fn).then(() => this.status());
    this.queue = next.catch(() => {});
    return next;
  }

  private async halt(why: string): Promise<void> {
    this.gen++;
    this.clearTimer();
    const inst = this.instance;
    if (inst) {
      this.state = "stopping";
      this.deps.file.note(`stopping pid ${inst.pid ?? "?"}: ${why}`);
      await inst.stop(this.cfg.stop_timeout);
      this.deps.file.note(`stopped pid ${inst.pid ?? "?"}`);
    }
    this.instance = null;
    this.state = "stopped";
    this.nextStartAt = null;
  }

  private launch(): Promise<void> {
    const p = this.doLaunch().finally(() => {
      if (this.launching === p) this.launching = null;
    });
    this.launching = p;
    return p;
  }

  private async doLaunch(): Promise<void> {
    const gen = ++this.gen;
    this.clearTimer();
    this.state = "starting";
    this.health = this.cfg.health ? "unknown" : "none";
    this.healthySince = null;
    this.everHealthy = false;
    this.counter = { consecutiveFailures: 0 };
    this.startedAt = this.clock.now();
    let inst: Instance;
    try {
      inst = await this.runner.start();
    } catch (err) {
      if (gen !== this.gen) return;
      this.fail(`start failed: ${(err as Error).message}`);
      return;
    }
    if (gen !== this.gen) {
      // Stopped while starting (e.g. shutdown during an ssh connect): do not leave it running.
      await inst.stop(this.cfg.stop_timeout);
      return;
    }
    this.instance = inst;
    this.startedAt = this.clock.now();
    this.deps.file.note(
      `started pid ${inst.pid ?? "?"} on ${this.runner.host}: ${JSON.stringify(this.cfg.command)}`,
    );
    this.deps.log.info(
      `${this.name}: started (pid ${inst.pid ?? "?"}${this.runner.host === "local" ? "" : ` on ${this.runner.host}`})`,
    );
    if (!this.cfg.health) this.state = "running";
    void inst.exited.then((reason) => {
      if (gen !== this.gen) return;
      this.instance = null;
      this.deps.file.note(`pid ${inst.pid ?? "?"} ended: ${reason}`);
      this.lastExit = reason;
      this.lastExitAt = this.clock.now();
      this.fail(reason);
    });
    if (this.cfg.health) void this.healthLoop(gen);
  }

  private async healthLoop(gen: number): Promise<void> {
    const h = this.cfg.health;
    if (!h) return;
    while (gen === this.gen) {
      const t0 = this.clock.now();
      const inGrace = !this.everHealthy && t0 - (this.startedAt ?? t0) < h.grace;
      const r = await this.runner.check();
      if (gen !== this.gen) return;
      const now = this.clock.now();
      const res = onHealthResult(this.counter, r.ok, { inGrace, threshold: h.unhealthy_threshold });
      this.counter = res.counter;
      if (res.verdict === "healthy") {
        if (!this.everHealthy) this.deps.log.info(`${this.name}: healthy`);
        this.everHealthy = true;
        this.health = "healthy";
        this.state = "running";
        this.healthySince ??= now;
        if (this.ledger.streak > 0 && shouldReset(this.healthySince, now, this.cfg.backoff))
          this.ledger = freshLedger();
      } else if (res.verdict !== "ignored") {
        this.healthySince = null;
        if (this.everHealthy || !inGrace) this.health = "unhealthy";
        this.lastError = `unhealthy: ${r.reason ?? "failed"}`;
        this.deps.log.warn(
          `${this.name}: health check failed (${r.reason}), ${res.counter.consecutiveFailures}/${h.unhealthy_threshold}`,
        );
        if (res.verdict === "restart") {
          await this.replaceUnhealthy(gen, r.reason ?? "failed");
          return;
        }
      }
      const starting =
        t0 - (this.startedAt ?? t0) < STARTING_FAST_FOR_MS ? STARTING_PROBE_FAST_MS : STARTING_PROBE_MS;
      const period = !this.everHealthy && inGrace ? Math.min(h.interval, starting) : h.interval;
      const wait = Math.max(0, period - (this.clock.now() - t0));
      await new Promise<void>((r) => this.clock.after(wait, r));
    }
  }

  private async replaceUnhealthy(gen: number, reason: string): Promise<void> {
    const inst = this.instance;
    if (!inst || gen !== this.gen) return;
    // Take this instance out of the event flow first, so its exit is not counted a second time.
    this.gen++;
    const wasHealthy = this.everHealthy;
    this.deps.log.warn(`${this.name}: unhealthy (${reason}); restarting`);
    this.deps.file.note(`unhealthy (${reason}): stopping pid ${inst.pid ?? "?"}`);
    this.state = "stopping";
    await inst.stop(this.cfg.stop_timeout);
    this.instance = null;
    this.everHealthy = wasHealthy;
    this.fail(`unhealthy: ${reason}`);
  }

  /** The current instance is gone (or never came up): schedule the next start. */
  private fail(reason: string): void {
    const now = this.clock.now();
    const wasHealthy = this.cfg.health
      ? this.everHealthy
      : this.startedAt !== null && now - this.startedAt >= MIN_UPTIME_MS;
    // Without health checks, "stayed up for reset_after" ends a crash loop.
    if (!this.cfg.health && this.startedAt !== null && now - this.startedAt >= this.cfg.backoff.reset_after)
      this.ledger = freshLedger();
    if (this.cfg.health && shouldReset(this.healthySince, now, this.cfg.backoff)) this.ledger = freshLedger();
    const failed = onFailure(this.ledger, wasHealthy, this.cfg.backoff);
    const { delayMs } = failed;
    const { alert, ledger } = crashLoopAlert(failed.ledger, this.cfg.alert_after_restarts);
    this.ledger = ledger;
    this.restarts++;
    this.lastError = reason;
    this.instance = null;
    this.health = this.cfg.health ? "unknown" : "none";
    this.state = "backoff";
    this.nextStartAt = now + delayMs;
    const gen = ++this.gen;
    this.deps.log.warn(`${this.name}: ${reason}; restart #${this.restarts} in ${delayMs}ms`);
    if (alert) {
      this.alerts++;
      this.deps.log.error(
        `${this.name}: crash loop: restarted ${ledger.streak} times in a row, more than alert_after_restarts (${this.cfg.alert_after_restarts}) (last: ${reason}); still trying, next in ${delayMs}ms`,
      );
      this.deps.file.note(`crash loop: ${ledger.streak} restarts in a row (last: ${reason})`);
      this.deps.alert({
        kind: "service_crash_loop",
        service: this.name,
        host: this.runner.host,
        restarts: ledger.streak,
        alert_after_restarts: this.cfg.alert_after_restarts,
        last_error: reason,
        next_delay_ms: delayMs,
      });
    }
    this.cancelRestart = this.clock.after(delayMs, () => {
      this.cancelRestart = null;
      if (gen !== this.gen) return;
      void this.serial(() => (gen === this.gen ? this.launch() : Promise.resolve()));
    });
  }

  private clearTimer(): void {
    this.cancelRestart?.();
    this.cancelRestart = null;
  }
}
