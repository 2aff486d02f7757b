import { existsSync } from "node:fs";
import type { ArgDef } from "citty";
import type { Config } from "../config/schema.ts";
import type { HealthBody } from "../server/health.ts";
import { urlHost } from "../server/serve.ts";
import { openStore } from "../store/db.ts";
import { getSetting } from "../store/settings.ts";

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

export class ControllerUnreachable extends Error {
  override name = "ControllerUnreachable";
}

/** GET a JSON document from the controller; any status is returned, transport errors throw. */
export async function getJson<T>(url: string, timeoutMs = 3_000): Promise<{ status: number; body: T }> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
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

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/** The shape every oyster /health answers with; anything else is not an oyster controller. */
export function isHealthBody(b: unknown): b is HealthBody {
  const h = b as HealthBody | null;
  return (
    typeof h === "object" &&
    h !== null &&
    typeof h.status === "string" &&
    typeof h.loops === "object" &&
    Array.isArray(h.unhealthy)
  );
}
