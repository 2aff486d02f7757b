import type { Hono } from "hono";
import { OutputMissingError, pickRun, streamOutput } from "../output/output.ts";
import type { Transport } from "../remote/transport.ts";
import type { Store } from "../store/db.ts";
import { getTask } from "../store/tasks.ts";
import { HttpError } from "./http-error.ts";

/**
 * `GET /api/tasks/:id/logs`: a run's output as it is on its node, streamed in bounded ranges with
 * backpressure (the next range is read from the node only when the client took the last one), so
 * a 1 GB output.log costs the controller one 256 KiB range at a time. `?run=` / `?attempt=`
 * choose the run (default latest), `?tail=N` starts at the last N lines, `?follow=1` keeps the
 * response open until the run is over. The bytes are exactly the run's: a client that shows them
 * on a terminal makes them safe (the CLI does). The guard's rules apply as for every read.
 */
export interface LogsRouteDeps {
  store: Store;
  /** The controller's node connections; absent (tests, no nodes) the route answers 503. */
  transports?: Map<string, Transport>;
}

interface BunServerLike {
  timeout?: (req: Request, seconds: number) => void;
}

export function addLogsRoute(api: Hono, deps: LogsRouteDeps): void {
  api.get("/tasks/:id/logs", async (c) => {
    const id = c.req.param("id");
    const num = (name: string, min: number): number | undefined | null => {
      const v = c.req.query(name);
      if (v === undefined || v === "") return undefined;
      const n = Number(v);
      return Number.isSafeInteger(n) && n >= min ? n : null;
    };
    const attempt = num("attempt", 1);
    const tail = num("tail", 0);
    if (attempt === null || tail === null)
      throw new HttpError(400, "attempt must be an integer ≥ 1 and tail an integer ≥ 0");
    const task = deps.store.read((db) => getTask(db, id));
    if (!task) throw new HttpError(404, `no task named "${id}"`);
    const run = pickRun(id, task.runs, { run: c.req.query("run"), attempt });
    if (typeof run === "string") throw new HttpError(404, run);
    const t = deps.transports?.get(run.node);
    if (!t) throw new HttpError(503, `no connection to node "${run.node}" of run ${run.run_id}`);
    const follow = ["1", "true", "yes"].includes(c.req.query("follow") ?? "");
    // Bun.serve's idleTimeout (30 s) would cut a follower of a run that is silent for a while;
    // under Bun.serve Hono's env is the server, which can lift it for this one request.
    if (follow) (c.env as BunServerLike | undefined)?.timeout?.(c.req.raw, 0);
    const stop = new AbortController();
    const chunks = streamOutput(t, run.run_id, { tailLines: tail, follow, signal: stop.signal });
    // The first range is read before answering, so a missing run dir or a dead node is a clear
    // error status rather than an empty 200.
    let first: IteratorResult<Uint8Array, unknown>;
    try {
      first = await chunks.next();
    } catch (err) {
      throw new HttpError(err instanceof OutputMissingError ? 404 : 502, (err as Error).message);
    }
    let held: IteratorResult<Uint8Array, unknown> | null = first;
    const body = new ReadableStream<Uint8Array>({
      async pull(ctrl) {
        try {
          const next = held ?? (await chunks.next());
          held = null;
          if (next.done) ctrl.close();
          else ctrl.enqueue(next.value);
        } catch (err) {
          ctrl.error(err);
        }
      },
      cancel() {
        stop.abort();
        void chunks.return({ status: null, bytes: 0 });
      },
    });
    return new Response(body, {
      headers: {
        "Content-Type": "text/plain; charset=utf-8",
        "X-Content-Type-Options": "nosniff",
        "X-Oyster-Run": run.run_id,
        "X-Oyster-Node": run.node,
        "Cache-Control": "no-store",
      },
    });
  });
}
