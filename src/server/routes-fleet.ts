import type { Hono } from "hono";
import { listEvents } from "../store/events.ts";
import { HttpError } from "./http-error.ts";
import { intParam, type RoutesContext } from "./routes-context.ts";
import { dispatchStats, fleetSnapshot, STATS_EVENTS_DEFAULT, STATS_EVENTS_MAX } from "./snapshot.ts";

/** The fleet's read views under /api: status, nodes, breakers, stats, events. */
export function addFleetRoutes(api: Hono, ctx: RoutesContext): void {
  const { store, config, now } = ctx;
  api.get("/status", (c) => {
    const r = ctx.health();
    return c.json({
      controller: r.body,
      // With the queue (running tasks, top waiting reasons): /metrics scrapes skip that work.
      fleet: store.read((db) =>
        fleetSnapshot(db, now(), config.dispatch.window, ctx.policy, { ...ctx.placement, queue: true }),
      ),
      events: store.read((db) => listEvents(db, { limit: 10 })),
    });
  });
  api.get("/nodes", (c) => c.json(ctx.snapshot().nodes));
  api.get("/breakers", (c) => c.json(ctx.snapshot().breakers));
  api.get("/stats", (c) => {
    const limit = intParam(c.req.query("limit"), STATS_EVENTS_DEFAULT, 0);
    if (limit === null || limit > STATS_EVENTS_MAX)
      throw new HttpError(400, `limit must be an integer from 0 to ${STATS_EVENTS_MAX}`);
    return c.json(store.read((db) => dispatchStats(db, now(), config.dispatch.window, limit)));
  });
  api.get("/events", (c) => {
    const limit = intParam(c.req.query("limit"), 50);
    const before = intParam(c.req.query("before"), 0, 0);
    if (limit === null || before === null) throw new HttpError(400, "limit and before must be integers");
    const rows = store.read((db) =>
      listEvents(db, { limit, before, kind: c.req.query("kind"), task_id: c.req.query("task_id") }),
    );
    const last = rows.at(-1);
    // ISO 8601 beside the epoch-ms `ts` (issue 12.4); `ts` stays for the scripts that page by it.
    const events = rows.map((r) => ({ ...r, ts_iso: new Date(r.ts).toISOString() }));
    return c.json({ events, next_before: rows.length === limit && last ? last.id : null });
  });
}
