import { existsSync } from "node:fs";
import type { ArgDef } from "citty";
import type { Config } from "../config/schema.ts";
import type { HealthBody } from "../server/health.ts";
import { urlHost } from "../server/serve.ts";
import { findToken, TokenError } from "../server/token.ts";
import { openStore } from "../store/db.ts";
import { readStoreId } from "../store/identity.ts";
import { getSetting } from "../store/settings.ts";
import { CliError } from "./errors.ts";

export const urlArg = {
  url: {
    type: "string",
    description: "Controller base URL (default: from the store, else http.host:port)",
  },
} as const satisfies Record<string, ArgDef>;

/**
 * How CLI commands reach a running `oyster run`: an explicit --url, else the URL the controller
 * wrote into the store when it bound (it may have picked a random port), else http.host:port.
 */
export function controllerUrl(config: Config, explicit?: string): string {
  if (explicit) return explicit.replace(/\/+$/, "");
  if (existsSync(config.store)) {
    try {
      const store = openStore(config.store, { readonly: true });
      try {
        const url = getSetting(store.db, "http_url");
        if (url) return url;
      } finally {
        store.close();
      }
    } catch {
      // An unreadable store is reported by the command that needs it; fall back to config here.
    }
  }
  return `http://${urlHost(config.http.host)}:${config.http.port}`;
}

/**
 * The API token the CLI sends: OYSTER_HTTP_TOKEN / http.token, else the file the controller
 * generated in state_dir; null when neither exists (no controller started here yet).
 */
export function cliToken(config: Config): string | null {
  try {
    return findToken(config).token;
  } catch (err) {
    if (err instanceof TokenError) throw new CliError(err.message, 1, { cause: err });
    throw err;
  }
}

export class ControllerUnreachable extends Error {
  override name = "ControllerUnreachable";
}

/** GET a JSON document from the controller; any status is returned, transport errors throw. */
export function getJson<T>(
  url: string,
  timeoutMs = 3_000,
  token: string | null = null,
): Promise<{ status: number; body: T }> {
  return requestJson<T>(url, { method: "GET", timeoutMs, token });
}

/** POST to the controller's API with the token; any status is returned, transport errors throw. */
export function postJson<T>(
  url: string,
  body: unknown,
  token: string | null,
  timeoutMs = 30_000,
): Promise<{ status: number; body: T }> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return requestJson<T>(url, { method: "POST", timeoutMs, token, body: text });
}

async function requestJson<T>(
  url: string,
  opts: { method: "GET" | "POST"; timeoutMs: number; token: string | null; body?: string },
): Promise<{ status: number; body: T }> {
  const { timeoutMs } = opts;
  // Port 0 is what http.port says when `oyster run` picks a free port and records it in the
  // store; with no URL recorded there is nobody to ask, and a connect to port 0 would only
  // reach whatever the OS makes of it.
  if (portOf(url) === "0")
    throw new ControllerUnreachable(
      `controller not reachable at ${originOf(url)}: port 0 cannot be asked — with http.port 0, \`oyster run\` picks a free port and records its URL in the store, and none is recorded (is \`oyster run\` running?)`,
    );
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(url, {
      method: opts.method,
      headers,
      body: opts.body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const e = err as Error & { code?: string };
    const why =
      e.name === "TimeoutError"
        ? `no answer within ${timeoutMs} ms`
        : e.code === "ConnectionRefused" || /ECONNREFUSED|Unable to connect/.test(e.message)
          ? "connection refused (is `oyster run` running?)"
          : e.message;
    throw new ControllerUnreachable(`controller not reachable at ${originOf(url)}: ${why}`);
  }
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as T };
  } catch {
    throw new ControllerUnreachable(
      `${url} answered ${res.status} with something that is not JSON (is another program on that port?)`,
    );
  }
}

function portOf(url: string): string | null {
  try {
    return new URL(url).port;
  } catch {
    return null; // not a URL: fetch says what is wrong with it
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/** A controller's answer vouched for by askController, or why it cannot be believed. */
export type ControllerAnswer<T> =
  | { ok: true; status: number; body: T; health: HealthBody }
  | { ok: false; why: string };

/**
 * GET `path` from the controller at `base` with the CLI's token and vouch for the answer: it
 * must carry an oyster /health body (`healthOf` picks it out of the answer, null when the
 * answer is not the one wanted) and, unless the operator named the URL (`explicit`), come from
 * the controller of this config's store. Nobody answering is a `why` too.
 */
export async function askController<T>(
  config: Config,
  base: string,
  explicit: boolean,
  path: string,
  timeoutMs: number,
  healthOf: (r: { status: number; body: T }) => unknown,
): Promise<ControllerAnswer<T>> {
  const endpoint = `${base}${path}`;
  const token = cliToken(config);
  let r: { status: number; body: T };
  try {
    r = await getJson<T>(endpoint, timeoutMs, token);
  } catch (err) {
    if (err instanceof ControllerUnreachable) return { ok: false, why: err.message };
    throw err;
  }
  const health = healthOf(r);
  if (!isHealthBody(health)) {
    const why =
      r.status === 401 || r.status === 403
        ? `${endpoint} refused this CLI (${r.status}: ${(r.body as { error?: string } | null)?.error ?? "no reason"})`
        : `${endpoint} answered ${r.status}, but not as an oyster controller`;
    return { ok: false, why };
  }
  const foreign = explicit ? null : notOurController(config, health, base);
  if (foreign) return { ok: false, why: foreign };
  return { ok: true, status: r.status, body: r.body, health };
}

/** The shape every oyster /health answers with; anything else is not an oyster controller. */
function isHealthBody(b: unknown): b is HealthBody {
  const h = b as HealthBody | null;
  return (
    typeof h === "object" &&
    h !== null &&
    typeof h.status === "string" &&
    typeof h.loops === "object" &&
    Array.isArray(h.unhealthy)
  );
}

/**
 * Why the controller that answered at `url` is not the one of this config's store, or null when
 * it is: its /health names the store it runs on, and only a controller of our store can have
 * written that id into our file. Another instance on the default port is named, not believed.
 */
function notOurController(config: Config, body: HealthBody, url: string): string | null {
  let ours: string | null = null;
  try {
    ours = readStoreId(config.store);
  } catch {
    // An unreadable store cannot vouch for anyone; the message below says whose it is not.
  }
  if (ours && body.store_id === ours) return null;
  const who = `the controller answering at ${url} (pid ${body.pid}, instance ${body.instance_id ?? "unknown"}, store ${body.store_id ?? "unknown"})`;
  if (!existsSync(config.store)) return `${who} is not this config's: there is no store at ${config.store}`;
  if (!ours)
    return `${who} is not this config's: no controller has run on ${config.store} yet (it has no store id)`;
  return `${who} is not the controller of ${config.store} (store ${ours})`;
}
