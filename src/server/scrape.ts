import type { LoopStatus } from "../loops/loop.ts";
import { metrics } from "../metrics.ts";
import { loopHealth } from "./health.ts";
import { counterFamily, type Family, gauge, histogramFamily, render } from "./prometheus.ts";
import type { FleetSnapshot } from "./snapshot.ts";

/**
 * Builds the /metrics page. The page is rendered at most once per `cacheMs` (Prometheus
 * scrapes every 15 s or so; a value up to a second old costs nothing, while rendering on every
 * request made /metrics ten times slower than /health under load — bench/health.ts), so a
 * scraper hammering the endpoint costs one snapshot of indexed queries and one render a second
 * and never competes with the loops. Shutdown invalidates it so `oyster_up 0` shows at once.
 */
export interface ScrapeSource {
  service: string;
  startedAt: number;
  now: () => number;
  loops: () => LoopStatus[];
  snapshot: () => FleetSnapshot;
  shuttingDown: () => boolean;
}

const BREAKER_VALUE = { CLOSED: 0, HALF_OPEN: 1, OPEN: 2 } as const;

export function createScraper(src: ScrapeSource, cacheMs = 1_000): () => string {
  let page: { at: number; shuttingDown: boolean; text: string } | null = null;
  return () => {
    const now = src.now();
    const shuttingDown = src.shuttingDown();
    // `now < page.at`: the wall clock stepped back; do not serve a stale page until it catches up.
    if (!page || now - page.at >= cacheMs || now < page.at || page.shuttingDown !== shuttingDown) {
      const text = render([
        ...controllerFamilies(src, now),
        ...fleetFamilies(src.snapshot()),
        ...processFamilies(),
      ]);
      page = { at: now, shuttingDown, text };
    }
    return page.text;
  };
}

function controllerFamilies(src: ScrapeSource, now: number): Family[] {
  const loops = src.loops().map((l) => ({ name: l.name, st: l, h: loopHealth(l, now) }));
  const up = src.shuttingDown() ? 0 : 1;
  const uptime = (now - src.startedAt) / 1000;
  const perLoop = (f: (l: (typeof loops)[number]) => number) =>
    loops.map((l) => ({ labels: { loop: l.name }, value: f(l) }));
  const legacy = (f: (l: (typeof loops)[number]) => number) =>
    loops.map((l) => ({ labels: { service: l.name }, value: f(l) }));
  return [
    gauge("oyster_up", "1 while the controller runs and is not shutting down", [{ value: up }]),
    gauge("oyster_uptime_seconds", "Seconds since the controller started", [{ value: uptime }]),
    gauge("oyster_start_time_seconds", "Unix time the controller started", [{ value: src.startedAt / 1000 }]),
    {
      name: "oyster_loop_cycles_total",
      help: "Cycles each loop has completed",
      type: "counter",
      samples: perLoop((l) => l.st.cycles),
    },
    {
      name: "oyster_loop_errors_total",
      help: "Cycles each loop ended with an error",
      type: "counter",
      samples: perLoop((l) => l.st.errors),
    },
    gauge(
      "oyster_loop_heartbeat_age_seconds",
      "Seconds since each loop last finished a cycle",
      perLoop((l) => l.h.last_heartbeat_age_s ?? Number.NaN),
    ),
    gauge(
      "oyster_loop_unhealthy_after_seconds",
      "Heartbeat age past which a loop counts as unhealthy",
      perLoop((l) => l.h.unhealthy_after_s),
    ),
    gauge(
      "oyster_loop_healthy",
      "1 while the loop's heartbeat is fresh",
      perLoop((l) => (l.h.healthy ? 1 : 0)),
    ),
    histogramFamily(metrics.loopCycleSeconds),
    // The seed's names (seeds/000), one series per loop, so existing dashboards keep working.
    gauge(
      "dispatch_daemon_up",
      "1 when the loop is healthy (seed name)",
      legacy((l) => (l.h.healthy && up ? 1 : 0)),
    ),
    gauge(
      "dispatch_daemon_uptime",
      "Seconds since start (seed name)",
      legacy(() => Math.floor(uptime)),
    ),
    gauge(
      "dispatch_daemon_cycles",
      "Cycles completed (seed name)",
      legacy((l) => l.st.cycles),
    ),
    gauge(
      "dispatch_daemon_heartbeat_age",
      "Seconds since the last heartbeat (seed name)",
      legacy((l) => Math.floor(l.h.last_heartbeat_age_s ?? 0)),
    ),
  ];
}

function fleetFamilies(s: FleetSnapshot): Family[] {
  const byNode = (f: (n: FleetSnapshot["nodes"][number]) => number) =>
    s.nodes.map((n) => ({ labels: { node: n.name }, value: f(n) }));
  return [
    gauge(
      "oyster_tasks",
      "Tasks by status",
      Object.entries(s.tasks).map(([status, n]) => ({ labels: { status }, value: n })),
    ),
    gauge(
      "oyster_node_slots",
      "Slots per node",
      byNode((n) => n.slots),
    ),
    gauge(
      "oyster_node_running",
      "Active runs per node",
      byNode((n) => n.running),
    ),
    gauge(
      "oyster_node_online",
      "1 when the node answered its last probe",
      byNode((n) => (n.online ? 1 : 0)),
    ),
    gauge(
      "oyster_node_draining",
      "1 when the node takes no new work",
      byNode((n) => (n.draining ? 1 : 0)),
    ),
    gauge(
      "oyster_node_load1",
      "1-minute load average at the last probe",
      s.nodes
        .filter((n) => n.resources?.load1 != null)
        .map((n) => ({
          labels: { node: n.name },
          value: n.resources?.load1 ?? 0,
        })),
    ),
    gauge(
      "oyster_breaker_state",
      "Circuit breaker state by key: 0 closed, 1 half-open, 2 open",
      s.breakers.map((b) => ({ labels: { key: b.key }, value: BREAKER_VALUE[b.state] })),
    ),
    counterFamily(metrics.dispatches),
    counterFamily(metrics.runsFinished),
    counterFamily(metrics.runStatusRejected),
    counterFamily(metrics.storeErrors),
    gauge("oyster_dispatch_success_ratio", "Launch success ratio over the stats window (NaN: no launches)", [
      { value: s.window.rate ?? Number.NaN },
    ]),
    gauge("oyster_dispatch_window_launches", "Launches in the stats window", [{ value: s.window.total }]),
    gauge("oyster_dispatch_paused", "1 while dispatch is paused (oyster pause on)", [
      { value: s.pause ? 1 : 0 },
    ]),
    gauge("oyster_dispatch_drained", "1 while the fleet is drained (oyster drain on)", [
      { value: s.drain ? 1 : 0 },
    ]),
    gauge("oyster_reserved_slots", 'Slots held back for people (oyster reserve); node="" is fleet-wide', [
      { labels: { node: "" }, value: s.reserve.fleet },
      ...Object.entries(s.reserve.nodes).map(([node, value]) => ({ labels: { node }, value })),
    ]),
    gauge(
      "oyster_pool_slots",
      "Slots of each configured pool",
      s.pools.map((p) => ({ labels: { pool: p.name }, value: p.slots })),
    ),
    gauge(
      "oyster_pool_running",
      "Active runs drawing from each pool",
      s.pools.map((p) => ({ labels: { pool: p.name }, value: p.running })),
    ),
    histogramFamily(metrics.sshCommandSeconds),
  ];
}

function processFamilies(): Family[] {
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  return [
    gauge("process_resident_memory_bytes", "Resident memory size in bytes", [{ value: mem.rss }]),
    gauge("process_heap_bytes", "JavaScript heap in use in bytes", [{ value: mem.heapUsed }]),
    {
      name: "process_cpu_seconds_total",
      help: "User and system CPU time spent in seconds",
      type: "counter",
      samples: [{ value: (cpu.user + cpu.system) / 1e6 }],
    },
  ];
}
