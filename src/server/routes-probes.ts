import type { Hono } from "hono";
import { bearerMatches } from "./guard.ts";
import { publicHealth } from "./health.ts";
import { CONTENT_TYPE } from "./prometheus.ts";
import type { RoutesContext } from "./routes-context.ts";
import { createScraper } from "./scrape.ts";
import { isLoopback } from "./serve.ts";

/** The probes and the scrape: /health, /ready, /metrics. */
export function addProbeRoutes(app: Hono, ctx: RoutesContext): void {
  const { deps, config } = ctx;
  const scrape = createScraper({
    service: deps.service,
    startedAt: deps.startedAt,
    now: ctx.now,
    loops: deps.loops,
    snapshot: ctx.snapshot,
    shuttingDown: () => deps.state.shuttingDown,
  });
  app.get("/health", (c) => {
    const r = ctx.health();
    // Beyond loopback an anonymous probe learns no file paths (seeds/003: minimal information).
    const anonymous =
      !isLoopback(config.http.host) && !bearerMatches(c.req.header("authorization"), ctx.token);
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
}
