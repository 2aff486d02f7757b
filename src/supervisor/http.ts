import { rmSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { Hono } from "hono";
import type { SuperviseConfig } from "../config/services.ts";
import { replacePrivateFile } from "../os/files.ts";
import { guard } from "../server/guard.ts";
import { CONTENT_TYPE, type Family, gauge, render, type Sample } from "../server/prometheus.ts";
import { type RunningServer, serveApp } from "../server/serve.ts";
import { VERSION } from "../version.ts";
import type { ServiceStatus } from "./types.ts";

/** The bound URL, for `port: 0` (tests, several supervisors on one machine) and for scripts. */
export const URL_FILE = "supervise-http.url";

/**
 * The supervisor's own /health and /metrics on a loopback port, so Prometheus can watch the
 * services without a controller. The same Host rule as the controller's server (a DNS-rebinding
 * page names its own host and is refused with 403), applied to the probe routes too: they are
 * the only routes here.
 */
export function startSupervisorHttp(
  cfg: SuperviseConfig["http"],
  stateDir: string,
  statuses: () => ServiceStatus[],
  now: () => number = Date.now,
): RunningServer {
  const startedAt = now();
  let port: number | undefined;
  const app = new Hono();
  app.use(
    guard({
      host: cfg.host,
      port: () => port,
      allowedHosts: cfg.allowed_hosts,
      token: "",
      loopback: true,
      guardProbes: true,
    }),
  );
  app.get("/health", (c) => c.json(healthBody(statuses(), startedAt, now())));
  app.get("/metrics", (c) =>
    c.body(render(metricFamilies(statuses(), startedAt)), 200, { "Content-Type": CONTENT_TYPE }),
  );
  app.notFound((c) => c.json({ error: `no such endpoint ${c.req.path} (try /health or /metrics)` }, 404));
  const server = serveApp(app, cfg.host, cfg.port);
  port = server.port;
  writeUrl(stateDir, server.url);
  return {
    ...server,
    stop: async () => {
      rmSync(join(stateDir, URL_FILE), { force: true });
      await server.stop();
    },
  };
}

/**
 * 200 while the supervisor answers (it is what this probe is about); `status` says whether every
 * service is up, and each service's detail is listed.
 */
export function healthBody(list: ServiceStatus[], startedAt: number, now: number) {
  const down = list.filter((s) => !isUp(s) && s.status !== "stopped");
  return {
    status: down.length === 0 ? "ok" : "degraded",
    service: "oyster-supervise",
    version: VERSION,
    pid: process.pid,
    uptime_s: Math.floor((now - startedAt) / 1000),
    services: list.map((s) => ({
      name: s.name,
      host: s.host,
      up: isUp(s),
      status: s.status,
      health: s.health,
      pid: s.pid,
      restarts: s.restarts,
      streak: s.streak,
      crash_loop_alerts: s.crash_loop_alerts,
      last_exit: s.last_exit,
      last_exit_at: s.last_exit_at,
      last_error: s.last_error,
    })),
  };
}

/** Up: an instance runs and (with a health check) answers healthy. */
const isUp = (s: ServiceStatus) => s.status === "running" && s.health !== "unhealthy";

/** "exit 3" → 3; "signal SIGKILL" → 137 (128 + the number, as shells report it); else null. */
export function exitCode(lastExit: string | null): number | null {
  if (!lastExit) return null;
  const code = /^exit (\d+)/.exec(lastExit);
  if (code?.[1]) return Number(code[1]);
  const sig = /^signal (SIG[A-Z0-9]+)/.exec(lastExit);
  const n = sig?.[1] ? constants.signals[sig[1] as keyof typeof constants.signals] : undefined;
  return n === undefined ? null : 128 + n;
}

export function metricFamilies(list: ServiceStatus[], startedAt: number): Family[] {
  const labels = (s: ServiceStatus) => ({ service: s.name, host: s.host });
  const per = (f: (s: ServiceStatus) => number | null): Sample[] =>
    list.flatMap((s) => {
      const v = f(s);
      return v === null ? [] : [{ labels: labels(s), value: v }];
    });
  const counter = (name: string, help: string, f: (s: ServiceStatus) => number): Family => ({
    name,
    help,
    type: "counter",
    samples: per(f),
  });
  return [
    gauge("oyster_supervisor_start_time_seconds", "When the supervisor started (Unix time)", [
      { value: startedAt / 1000 },
    ]),
    gauge(
      "oyster_supervisor_service_up",
      "1 when the service's instance runs (and is healthy, if it has a health check)",
      per((s) => (isUp(s) ? 1 : 0)),
    ),
    gauge(
      "oyster_supervisor_service_healthy",
      "1 when the last health check passed (services with a health check only)",
      per((s) => (s.health === "none" ? null : s.health === "healthy" ? 1 : 0)),
    ),
    counter(
      "oyster_supervisor_service_restarts_total",
      "Restarts since the supervisor started",
      (s) => s.restarts,
    ),
    gauge(
      "oyster_supervisor_service_restart_streak",
      "Failures in the current crash loop (0 when stable)",
      per((s) => s.streak),
    ),
    counter(
      "oyster_supervisor_service_crash_loop_alerts_total",
      "Crash-loop alerts sent (one per loop)",
      (s) => s.crash_loop_alerts,
    ),
    gauge(
      "oyster_supervisor_service_last_exit_code",
      "Exit code of the last instance that ended (128 + signal number when killed)",
      per((s) => exitCode(s.last_exit)),
    ),
    gauge(
      "oyster_supervisor_service_last_exit_timestamp_seconds",
      "When the last instance ended (Unix time)",
      per((s) => (s.last_exit_at === null ? null : s.last_exit_at / 1000)),
    ),
    gauge(
      "oyster_supervisor_service_start_time_seconds",
      "When the current instance started (Unix time)",
      per((s) => (s.started_at === null ? null : s.started_at / 1000)),
    ),
  ];
}

function writeUrl(stateDir: string, url: string): void {
  replacePrivateFile(join(stateDir, URL_FILE), `${url}\n`, { sync: true });
}
