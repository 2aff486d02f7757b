import { Hono } from "hono";
import type { LoopStatus } from "../loops/loop.ts";
import { VERSION } from "../version.ts";
import { healthReport } from "./health.ts";
import { CONTENT_TYPE, gauge, render } from "./prometheus.ts";
import { type RunningServer, serveApp } from "./serve.ts";

/**
 * The seeds/000 module for any daemon that is not `oyster run`: call `heartbeat()` once per
 * cycle; /health turns 503 when the last heartbeat is older than `unhealthyAfter`, /metrics
 * answers with the seed's `dispatch_daemon_*` names.
 */
export interface HealthServerOptions {
  name: string;
  port: number;
  host?: string;
  /** Milliseconds; default 600 000 (the seed's 10 minutes). */
  unhealthyAfter?: number;
  now?: () => number;
}

export interface HealthServer extends RunningServer {
  heartbeat(): void;
  cycles(): number;
}

export function createHealthServer(opts: HealthServerOptions): HealthServer {
  const now = opts.now ?? Date.now;
  const startedAt = now();
  let lastHeartbeat = startedAt;
  let cycles = 0;
  const unhealthyAfter = opts.unhealthyAfter ?? 600_000;
  const status = (): LoopStatus => ({
    name: opts.name,
    interval_ms: unhealthyAfter / 2,
    unhealthy_after_ms: unhealthyAfter,
    cycles,
    errors: 0,
    running: true,
    started_at: startedAt,
    last_heartbeat: lastHeartbeat,
    last_duration_ms: null,
    last_error: null,
    last_error_at: null,
  });
  const report = () =>
    healthReport({
      service: opts.name,
      version: VERSION,
      pid: process.pid,
      startedAt,
      now: now(),
      shuttingDown: false,
      loops: [status()],
    });
  const app = new Hono();
  app.get("/health", (c) => {
    const r = report();
    return c.json(r.body, r.code);
  });
  app.get("/metrics", (c) => {
    const r = report();
    const labels = { service: opts.name };
    const age = Math.floor((now() - lastHeartbeat) / 1000);
    const text = render([
      gauge("dispatch_daemon_up", "1 when the daemon is healthy", [
        { labels, value: r.code === 200 ? 1 : 0 },
      ]),
      gauge("dispatch_daemon_uptime", "Seconds since start", [{ labels, value: r.body.uptime_s }]),
      gauge("dispatch_daemon_cycles", "Cycles completed", [{ labels, value: cycles }]),
      gauge("dispatch_daemon_heartbeat_age", "Seconds since the last heartbeat", [{ labels, value: age }]),
    ]);
    return c.body(text, 200, { "Content-Type": CONTENT_TYPE });
  });
  const server = serveApp(app, opts.host ?? "127.0.0.1", opts.port);
  return {
    ...server,
    heartbeat() {
      lastHeartbeat = now();
      cycles++;
    },
    cycles: () => cycles,
  };
}
