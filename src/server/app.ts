import { Hono } from "hono";
import type { Config } from "../config/schema.ts";
import { breakerPolicy } from "../dispatch/breaker.ts";
import type { LoopStatus } from "../loops/runner.ts";
import type { Transport } from "../remote/transport.ts";
import { formatProblem, intake, type SpecInput } from "../spec/intake.ts";
import { jsonSpecCountOver } from "../spec/limits.ts";
import type { Store } from "../store/db.ts";
import { listEvents } from "../store/events.ts";
import { storeFault } from "../store/fault.ts";
import { waitingReasons } from "../store/placement-facts.ts";
import { cancelTask, getTask, listTasks, retryTask, TASK_STATUSES } from "../store/tasks.ts";
import { VERSION } from "../version.ts";
import { bearerMatches, guard } from "./guard.ts";
import { healthReport, publicHealth } from "./health.ts";
import { addLogsRoute } from "./logs-route.ts";
import { specMedia } from "./media.ts";
import { CONTENT_TYPE } from "./prometheus.ts";
import { createScraper } from "./scrape.ts";
import { isLoopback, MAX_BODY_BYTES } from "./serve.ts";
import {
  dispatchStats,
  type FleetSnapshot,
  fleetSnapshot,
  STATS_EVENTS_DEFAULT,
  STATS_EVENTS_MAX,
  WAITING_WINDOW,
} from "./snapshot.ts";
import { taskJson } from "./task-json.ts";

/**
 * The controller's HTTP surface: probes (/health, /ready), /metrics, and a JSON API under /api
 * for dashboards and scripts. Every request passes the guard (guard.ts): Host and Origin
 * checks, and the token for anything that changes state (for reads too beyond loopback).
 */
export interface AppDeps {
  service: string;
  startedAt: number;
  store: Store;
  config: Config;
  loops: () => LoopStatus[];
  state: { ready: boolean; shuttingDown: boolean };
  now?: () => number;
  /** The API token (default `config.http.token`); empty means no request can change anything. */
  token?: string;
  /** The bound port, for the Host check; undefined until bound. */
  port?: () => number | undefined;
  /** Reported by /health and /api/status so the CLI can tell its own controller from another. */
  identity?: { store_id: string; instance_id: string };
  /** Node connections, for `/api/tasks/:id/logs` (logs-route.ts). */
  transports?: Map<string, Transport>;
}

export function createApp(deps: AppDeps): Hono {
  const now = deps.now ?? Date.now;
  const { store, config } = deps;
  const policy = breakerPolicy(config.breaker);
  const placement = { ...config, breakerPolicy: policy };
  const snapshot = (): FleetSnapshot =>
    store.read((db) => fleetSnapshot(db, now(), config.dispatch.window, policy, placement));
  const scrape = createScraper({
    service: deps.service,
    startedAt: deps.startedAt,
    now,
    loops: deps.loops,
    snapshot,
    shuttingDown: () => deps.state.shuttingDown,
  });
  const health = () =>
    healthReport({
      service: deps.service,
      version: VERSION,
      pid: process.pid,
      startedAt: deps.startedAt,
      now: now(),
      shuttingDown: deps.state.shuttingDown,
      loops: deps.loops(),
      identity: deps.identity,
      store: store.health(),
    });

  const token = deps.token ?? config.http.token.trim();
  const app = new Hono();
  app.onError((err, c) => {
    // A full disk is the machine's condition, not a bug: 503 says "try again later".
    const fault = storeFault(err);
    if (fault) return c.json({ error: `store ${fault}: ${err.message}; try again later`, store: fault }, 503);
    return c.json({ error: err.message }, 500);
  });
  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404));
  app.use(
    guard({
      host: config.http.host,
      port: deps.port ?? (() => undefined),
      allowedHosts: config.http.allowed_hosts,
      token,
      loopback: isLoopback(config.http.host),
      guardProbes: config.http.guard_probes,
    }),
  );

  app.get("/health", (c) => {
    const r = health();
    // Beyond loopback an anonymous probe learns no file paths (seeds/003: minimal information).
    const anonymous = !isLoopback(config.http.host) && !bearerMatches(c.req.header("authorization"), token);
    return c.json(anonymous ? publicHealth(r.body) : r.body, r.code);
  });
  app.get("/ready", (c) => {
    const ready = deps.state.ready && !deps.state.shuttingDown;
    return c.json(
      { status: deps.state.shuttingDown ? "shutting_down" : ready ? "ready" : "starting" },
      ready ? 200 : 503,
    );
  });
  app.get("/metrics", (c) => c.body(scrape(), 200, { "Content-Type": CONTENT_TYPE }));

  const api = new Hono();
  api.use(async (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    // Nothing new is accepted once shutdown began: the loops that would act on it are stopping.
    if (deps.state.shuttingDown) return c.json({ error: "the controller is shutting down" }, 503);
    return next();
  });

  api.get("/status", (c) => {
    const r = health();
    return c.json({
      controller: r.body,
      // With the queue (running tasks, top waiting reasons): /metrics scrapes skip that work.
      fleet: store.read((db) =>
        fleetSnapshot(db, now(), config.dispatch.window, policy, { ...placement, queue: true }),
      ),
      events: store.read((db) => listEvents(db, { limit: 10 })),
    });
  });
  api.get("/tasks", (c) => {
    const status = c.req.query("status");
    if (status && !(TASK_STATUSES as readonly string[]).includes(status)) {
      return c.json(
        { error: `unknown status "${status}"; expected one of ${TASK_STATUSES.join(", ")}` },
        400,
      );
    }
    const limit = intParam(c.req.query("limit"), 1000);
    if (limit === null) return c.json({ error: "limit must be a positive integer" }, 400);
    const { rows, waiting } = store.read((db) => {
      const rows = listTasks(db, { status, project: c.req.query("project"), limit });
      const pending = rows.some((t) => t.status === "pending");
      // Why each pending task waits: the scheduler's own decision on this store (issue 13.2).
      return {
        rows,
        waiting: pending ? waitingReasons(db, now(), placement, Math.max(limit, WAITING_WINDOW)) : new Map(),
      };
    });
    return c.json(rows.map(({ body: _b, ...r }) => taskJson(r, waiting)));
  });
  api.get("/tasks/:id", (c) => {
    const t = store.read((db) => {
      const t = getTask(db, c.req.param("id"));
      if (t?.status !== "pending") return t && { ...t, waiting: null };
      return { ...t, waiting: waitingReasons(db, now(), placement, 10_000).get(t.task_id) ?? null };
    });
    return t ? c.json(t) : c.json({ error: `no task named "${c.req.param("id")}"` }, 404);
  });
  addLogsRoute(api, { store, transports: deps.transports });
  api.post("/tasks", async (c) => {
    const media = specMedia(c.req.header("content-type"));
    if (media.kind === "refused") return c.json({ error: media.error }, 415);
    const parsed = await readSpecs(c.req.raw, media.kind);
    if ("error" in parsed) return c.json({ error: parsed.error }, parsed.tooLarge ? 413 : 400);
    const r = await intake(store, parsed.specs, {
      dryRun: parsed.dryRun,
      allowMissingDeps: parsed.allowMissingDeps,
      replace: parsed.replace,
      rerunSucceeded: parsed.rerunSucceeded,
      executors: config.executors,
      defaultMaxAttempts: config.retry.max_attempts,
      origin: "api",
    });
    if (!r.ok) {
      return c.json(
        { ok: false, problems: r.problems, message: r.problems.map(formatProblem).join("\n") },
        r.overLimit ? 413 : 422,
      );
    }
    return c.json(
      {
        ok: true,
        dry_run: parsed.dryRun,
        accepted: r.accepted.map((s) => s.task_id),
        ...(parsed.replace ? { replaced: r.replaced ?? [] } : {}),
      },
      parsed.dryRun ? 200 : 201,
    );
  });
  for (const action of ["cancel", "retry"] as const) {
    api.post(`/tasks/:id/${action}`, (c) => {
      const id = c.req.param("id");
      const r = store.tx((db) =>
        action === "cancel" ? cancelTask(db, id, now(), "api") : retryTask(db, id, now()),
      );
      if (!r.ok) return c.json({ error: r.error }, r.error.startsWith("no task") ? 404 : 409);
      // `cancelling`: a run is active; the canceller kills it at the next scheduler tick.
      return c.json({ ok: true, task_id: id, from: r.from, to: r.to, node: r.node });
    });
  }
  api.get("/nodes", (c) => c.json(snapshot().nodes));
  api.get("/breakers", (c) => c.json(snapshot().breakers));
  api.get("/stats", (c) => {
    const limit = intParam(c.req.query("limit"), STATS_EVENTS_DEFAULT, 0);
    if (limit === null || limit > STATS_EVENTS_MAX)
      return c.json({ error: `limit must be an integer from 0 to ${STATS_EVENTS_MAX}` }, 400);
    return c.json(store.read((db) => dispatchStats(db, now(), config.dispatch.window, limit)));
  });
  api.get("/events", (c) => {
    const limit = intParam(c.req.query("limit"), 50);
    const before = intParam(c.req.query("before"), 0, 0);
    if (limit === null || before === null) return c.json({ error: "limit and before must be integers" }, 400);
    const rows = store.read((db) =>
      listEvents(db, { limit, before, kind: c.req.query("kind"), task_id: c.req.query("task_id") }),
    );
    const last = rows.at(-1);
    // ISO 8601 beside the epoch-ms `ts` (issue 12.4); `ts` stays for the scripts that page by it.
    const events = rows.map((r) => ({ ...r, ts_iso: new Date(r.ts).toISOString() }));
    return c.json({ events, next_before: rows.length === limit && last ? last.id : null });
  });
  app.route("/api", api);
  return app;
}

function intParam(v: string | undefined, dflt: number, min = 1): number | null {
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= min ? n : null;
}

/**
 * POST /api/tasks takes either one spec as text (Markdown with front matter, `text/markdown`;
 * `?source=` names it) or JSON `{"specs":[{"source","text"}], "dry_run", "allow_missing_deps"}`;
 * `replace` / `rerun_succeeded` (body or `?replace=1`) are `submit --replace [--rerun-succeeded]`.
 */
async function readSpecs(
  req: Request,
  kind: "markdown" | "json",
): Promise<
  | {
      specs: SpecInput[];
      dryRun: boolean;
      allowMissingDeps: boolean;
      replace: boolean;
      rerunSucceeded: boolean;
    }
  | { error: string; tooLarge?: true }
> {
  const len = Number(req.headers.get("content-length") ?? 0);
  // Bun.serve enforces the limit on the wire (413); this answers early with a clearer message.
  if (len > MAX_BODY_BYTES) return { error: `body is larger than ${MAX_BODY_BYTES} bytes`, tooLarge: true };
  const url = new URL(req.url);
  const flag = (name: string) => ["1", "true", "yes"].includes(url.searchParams.get(name) ?? "");
  const text = await req.text();
  if (kind === "markdown") {
    return {
      specs: [{ source: url.searchParams.get("source") || "api", text }],
      dryRun: flag("dry_run"),
      allowMissingDeps: flag("allow_missing_deps"),
      replace: flag("replace"),
      rerunSucceeded: flag("rerun_succeeded"),
    };
  }
  const over = jsonSpecCountOver(text);
  if (over) return { error: over.message, tooLarge: true };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { error: `body is not valid JSON: ${(err as Error).message}` };
  }
  const b = body as {
    specs?: unknown;
    dry_run?: unknown;
    allow_missing_deps?: unknown;
    replace?: unknown;
    rerun_succeeded?: unknown;
  };
  if (!b || typeof b !== "object" || !Array.isArray(b.specs)) {
    return { error: 'expected {"specs": [{"source": "...", "text": "..."}]}' };
  }
  const specs: SpecInput[] = [];
  for (const [i, s] of b.specs.entries()) {
    const e = s as { source?: unknown; text?: unknown };
    if (!e || typeof e.text !== "string") return { error: `specs[${i}].text: expected a string` };
    specs.push({ source: typeof e.source === "string" && e.source ? e.source : `specs[${i}]`, text: e.text });
  }
  return {
    specs,
    dryRun: b.dry_run === true || flag("dry_run"),
    allowMissingDeps: b.allow_missing_deps === true || flag("allow_missing_deps"),
    replace: b.replace === true || flag("replace"),
    rerunSucceeded: b.rerun_succeeded === true || flag("rerun_succeeded"),
  };
}
