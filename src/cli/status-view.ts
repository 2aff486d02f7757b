import type { HealthBody } from "../server/health.ts";
import type { FleetSnapshot } from "../server/snapshot.ts";
import type { EventRow } from "../store/events.ts";
import { SERVICES_HEADERS, servicesRows, uptime } from "../supervisor/table.ts";
import type { ServiceStatus } from "../supervisor/types.ts";
import { terminalSafe } from "../terminal-safe.ts";
import { colourEnabled, paintStatus } from "./colour.ts";
import { formatTable } from "./table.ts";

/** Everything `oyster status` shows; `--json` prints exactly this. */
export interface StatusReport {
  at: number;
  controller: {
    up: boolean;
    url: string;
    /** /health's body while the controller answers, else null. */
    health: HealthBody | null;
    /** Why the controller could not be asked (when down). */
    error: string | null;
  };
  /** Where the fleet numbers came from: the controller's API, or the store directly. */
  source: "controller" | "store";
  /** null only when the controller is down and there is no store yet (a supervisor-only host). */
  fleet: FleetSnapshot | null;
  events: EventRow[];
  /** The supervisor's services, or null when no supervisor runs from this state_dir. */
  services: ServiceStatus[] | null;
  /** Where the CLI's API token comes from; `none` until the first `oyster run` writes the file. */
  api_token: { source: "env" | "config" | "file" | "none"; path: string };
}

function tokenLine(t: StatusReport["api_token"]): string {
  if (t.source === "env") return "api token   from OYSTER_HTTP_TOKEN";
  if (t.source === "config") return "api token   from http.token in the config";
  if (t.source === "file") return `api token   ${t.path}`;
  return `api token   none yet (the first \`oyster run\` writes ${t.path})`;
}

const TASK_ORDER = [
  "pending",
  "dispatched",
  "running",
  "failed",
  "succeeded",
  "dead",
  "blocked",
  "cancelled",
];

export function formatStatus(r: StatusReport, now = Date.now(), colour = colourEnabled()): string {
  const out: (string | Painted)[] = [];
  const c = r.controller;
  if (c.up && c.health) {
    const h = c.health;
    out.push(
      `controller  up, ${h.status.replace("_", " ")} — ${c.url} (pid ${h.pid}, up ${uptime(h.uptime_s * 1000)}, oyster ${h.version})`,
    );
  } else {
    out.push(
      `controller  DOWN — ${terminalSafe(c.error ?? "not reachable")}; figures below are read from the store`,
    );
  }
  out.push(tokenLine(r.api_token));
  const store = c.health?.store;
  if (store && store !== "ok") {
    const e = c.health?.store_error;
    out.push(
      `store       ${store === "disk_full" ? "DISK FULL" : "I/O ERROR"}${e?.since ? ` for ${uptime(now - e.since)}` : ""} — writes fail and are retried every tick${e?.message ? ` (${e.message})` : ""}`,
    );
  }
  if (r.fleet)
    out.push(
      `switches    drain ${r.fleet.drain ? "ON" : "off"}, pause ${r.fleet.pause ? "ON" : "off"}, reserve ${reserveText(r.fleet)}`,
    );

  if (c.health) {
    const loops = Object.entries(c.health.loops);
    out.push(
      "",
      formatTable(
        ["LOOP", "CYCLES", "LAST CYCLE", "HEARTBEAT", "HEALTHY", "LAST ERROR"],
        loops.map(([name, l]) => [
          name,
          l.cycles,
          l.last_duration_ms === null ? "-" : `${Math.round(l.last_duration_ms)} ms`,
          l.last_heartbeat_age_s === null ? "never" : `${l.last_heartbeat_age_s.toFixed(1)}s ago`,
          l.healthy ? "yes" : `NO (limit ${l.unhealthy_after_s}s)`,
          l.last_error ? truncate(l.last_error, 60) : "-",
        ]),
      ),
    );
  }

  if (r.fleet) out.push(...fleetLines(r.fleet), ...runningLines(r.fleet, now, colour));
  else out.push("", "store       none yet (nothing submitted)");

  if (r.events.length) {
    out.push(
      "",
      formatTable(
        ["WHEN", "EVENT", "TASK", "NODE", "DETAIL"],
        r.events.map((e) => [
          `${uptime(now - e.ts)} ago`,
          e.kind,
          e.task_id ? truncate(e.task_id, 32) : "-",
          e.node ?? "-",
          e.data ? truncate(e.data, 60) : "-",
        ]),
      ),
    );
  }
  if (r.services) {
    out.push(
      "",
      r.services.length
        ? formatTable(SERVICES_HEADERS, servicesRows(r.services, now))
        : "supervisor: no services",
    );
  }
  // Tables are already safe; this catches every value interpolated into the other lines.
  return `${out.map((l) => (typeof l === "string" ? terminalSafe(l, { keepNewlines: true }) : l.painted)).join("\n")}\n`;
}

function fleetLines(fleet: FleetSnapshot): string[] {
  const out: string[] = [];
  out.push(
    "",
    fleet.nodes.length
      ? formatTable(
          ["NODE", "STATE", "SLOTS", "LOAD", "MEM", "BREAKER", "REASON"],
          fleet.nodes.map((n) => [
            n.name,
            n.draining
              ? "draining"
              : n.resources === null && !n.online
                ? "unknown"
                : n.online
                  ? "online"
                  : "offline",
            `${n.running}/${n.slots}`,
            n.resources?.load1 == null ? "-" : n.resources.load1.toFixed(2),
            n.resources?.mem_avail_mb == null ? "-" : `${Math.round(n.resources.mem_avail_mb)} MB`,
            n.breaker,
            n.reason ?? "-",
          ]),
        )
      : "no nodes recorded yet",
  );

  const counts = TASK_ORDER.filter((s) => (fleet.tasks as Record<string, number>)[s]).map(
    (s) => `${(fleet.tasks as Record<string, number>)[s]} ${s}`,
  );
  out.push("", `tasks       ${counts.join(", ") || "none"}`);
  const waiting = fleet.queue?.waiting ?? [];
  if (waiting.length) out.push(`waiting     ${waiting.map((w) => `${w.reason} ${w.count}`).join(", ")}`);
  if (fleet.pools?.length)
    out.push(`pools       ${fleet.pools.map((p) => `${p.name} ${p.running}/${p.slots}`).join(", ")}`);
  const w = fleet.window;
  const rate = w.rate === null ? "no launches" : `${w.total} launches, ${(w.rate * 100).toFixed(1)}% ok`;
  const top = topReasons(w.failure_reasons);
  out.push(
    `dispatch    last ${Math.round(w.window_s / 60)} min: ${rate}${top ? `; top failures: ${top}` : ""}`,
  );
  const held = topReasons(w.refusals);
  if (held) out.push(`            held back: ${held}`);
  const openBreakers = fleet.breakers.filter((b) => b.state !== "CLOSED");
  if (openBreakers.length)
    out.push(
      `breakers    ${openBreakers.map((b) => `${b.key} ${b.state} (${b.failures} failures)`).join(", ")}`,
    );
  return out;
}

/** A table already made terminal-safe cell by cell, with colour codes that must survive. */
interface Painted {
  painted: string;
}

/** Running tasks like `squeue`: node, attempt and how long they have been running. */
function runningLines(fleet: FleetSnapshot, now: number, colour: boolean): (string | Painted)[] {
  const running = fleet.queue?.running ?? [];
  if (!running.length) return [];
  return [
    "",
    {
      painted: formatTable(
        ["RUNNING", "RUN", "NODE", "ATTEMPT", "STATE", "ELAPSED"],
        running.map((r) => [
          r.task_id,
          r.run_id,
          r.node,
          r.attempt,
          r.state,
          r.started_at === null ? "-" : uptime(Math.max(0, now - r.started_at)),
        ]),
        (col, cell) => (col === 4 ? paintStatus(cell, colour) : cell),
      ),
    },
  ];
}

function reserveText(fleet: FleetSnapshot): string {
  const r = fleet.reserve;
  if (!r) return "off";
  const parts = [
    ...(r.fleet > 0 ? [`${r.fleet} fleet-wide`] : []),
    ...Object.entries(r.nodes).map(([n, k]) => `${k} on ${n}`),
  ];
  return parts.length ? parts.join(", ") : "off";
}

function topReasons(m: Record<string, number>, n = 3): string {
  return Object.entries(m)
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
}

const truncate = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
