import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { logger } from "../log.ts";
import { storeFault } from "../store/fault.ts";

const log = logger("http");

/**
 * The one error a route throws to answer with a status: `{"error": message}` plus any `extra`
 * fields. Anything else a route throws is a bug or the machine's condition, answered by `onError`
 * without its internals.
 */
export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** `app.onError`: HttpError as it says; a full disk as 503 (try again later); anything else logged, 500. */
export function onHttpError(err: Error, c: Context): Response {
  if (err instanceof HttpError) return c.json({ error: err.message, ...err.extra }, err.status);
  // A full disk is the machine's condition, not a bug: 503 says "try again later".
  const fault = storeFault(err);
  if (fault) return c.json({ error: `store ${fault}: ${err.message}; try again later`, store: fault }, 503);
  log.error(`${c.req.method} ${c.req.path} failed: ${err.message}`, {
    method: c.req.method,
    path: c.req.path,
  });
  return c.json({ error: "internal error; see the controller's log" }, 500);
}
