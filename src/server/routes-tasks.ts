import type { Hono } from "hono";
import { formatProblem, intake } from "../spec/intake.ts";
import { waitingReasons } from "../store/placement-facts.ts";
import { cancelTask, getTask, listTasks, retryTask, TASK_STATUSES } from "../store/tasks.ts";
import { HttpError } from "./http-error.ts";
import { addLogsRoute } from "./logs-route.ts";
import { specMedia } from "./media.ts";
import { readSpecs } from "./read-specs.ts";
import { intParam, type RoutesContext } from "./routes-context.ts";
import { WAITING_WINDOW } from "./snapshot.ts";
import { taskJson } from "./task-json.ts";

/** Tasks under /api: list, show, logs, submit, cancel, retry. */
export function addTaskRoutes(api: Hono, ctx: RoutesContext): void {
  const { store, config, now, placement } = ctx;
  api.get("/tasks", (c) => {
    const status = c.req.query("status");
    if (status && !(TASK_STATUSES as readonly string[]).includes(status)) {
      throw new HttpError(400, `unknown status "${status}"; expected one of ${TASK_STATUSES.join(", ")}`);
    }
    const limit = intParam(c.req.query("limit"), 1000);
    if (limit === null) throw new HttpError(400, "limit must be a positive integer");
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
    if (!t) throw new HttpError(404, `no task named "${c.req.param("id")}"`);
    return c.json(t);
  });
  addLogsRoute(api, { store, transports: ctx.deps.transports });
  api.post("/tasks", async (c) => {
    const media = specMedia(c.req.header("content-type"));
    if (media.kind === "refused") throw new HttpError(415, media.error);
    const parsed = await readSpecs(c.req.raw, media.kind);
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
      if (!r.ok) throw new HttpError(r.code === "not_found" ? 404 : 409, r.error);
      // `cancelling`: a run is active; the canceller kills it at the next scheduler tick.
      return c.json({ ok: true, task_id: id, from: r.from, to: r.to, node: r.node });
    });
  }
}
