import { Hono } from "hono";
import { guard } from "./guard.ts";
import { HttpError, onHttpError } from "./http-error.ts";
import { type AppDeps, routesContext } from "./routes-context.ts";
import { addFleetRoutes } from "./routes-fleet.ts";
import { addProbeRoutes } from "./routes-probes.ts";
import { addTaskRoutes } from "./routes-tasks.ts";
import { isLoopback } from "./serve.ts";

export type { AppDeps } from "./routes-context.ts";

/**
 * The controller's HTTP surface: probes (/health, /ready), /metrics, and a JSON API under /api
 * for dashboards and scripts. Every request passes the guard (guard.ts): Host and Origin
 * checks, and the token for anything that changes state (for reads too beyond loopback).
 * Routes live by group (routes-*.ts); a route answers an error by throwing HttpError, and
 * `onHttpError` answers everything else without internals.
 */
export function createApp(deps: AppDeps): Hono {
  const ctx = routesContext(deps);
  const { config } = deps;
  const app = new Hono();
  app.onError(onHttpError);
  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404));
  app.use(
    guard({
      host: config.http.host,
      port: deps.port ?? (() => undefined),
      allowedHosts: config.http.allowed_hosts,
      token: ctx.token,
      loopback: isLoopback(config.http.host),
      guardProbes: config.http.guard_probes,
    }),
  );
  addProbeRoutes(app, ctx);

  const api = new Hono();
  api.use(async (c, next) => {
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    // Nothing new is accepted once shutdown began: the loops that would act on it are stopping.
    if (deps.state.shuttingDown) throw new HttpError(503, "the controller is shutting down");
    return next();
  });
  addTaskRoutes(api, ctx);
  addFleetRoutes(api, ctx);
  app.route("/api", api);
  return app;
}
