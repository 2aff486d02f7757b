import type { ServiceStatus } from "./types.ts";

export const SERVICES_HEADERS = ["SERVICE", "PID", "STATUS", "UPTIME", "HEALTH", "RESTARTS"];

/**
 * Rows for `SERVICE PID STATUS UPTIME HEALTH RESTARTS`, like `docker compose ps` (shared with
 * `oyster status`): `formatTable(SERVICES_HEADERS, servicesRows(list))` from src/cli/table.ts.
 */
export function servicesRows(services: ServiceStatus[], now = Date.now()): (string | number)[][] {
  return services.map((s) => [
    s.host === "local" ? s.name : `${s.name}@${s.host}`,
    s.pid ?? "-",
    s.status,
    s.started_at && s.status !== "stopped" && s.status !== "backoff" ? uptime(now - s.started_at) : "-",
    s.health === "none" ? "-" : s.health,
    s.restarts,
  ]);
}

/** `2h 15m`, `1h 03m`, `45s` as in the seed's table. */
export function uptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}
