import { timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";

/**
 * Who may use the HTTP door (Jupyter's model): a request must name this server in `Host`
 * (DNS rebinding carries the attacker's name), must not come from another origin (a web page
 * the operator has open), and must carry the token to change anything — or to read anything
 * at all when the server is reachable beyond loopback.
 */
export interface GuardOptions {
  /** The configured bind address (`http.host`). */
  host: string;
  /** The bound port; undefined before the bind (in-process tests), then the port is not checked. */
  port: () => number | undefined;
  /** Extra names (with or without `:port`) a reverse proxy or DNS name uses. */
  allowedHosts: string[];
  token: string;
  loopback: boolean;
  /** Also require the token (and Host check) for /health, /ready and /metrics. */
  guardProbes: boolean;
}

/** Probe routes: kubelets, balancers and Prometheus call them by IP and without a token. */
export const PROBE_PATHS = new Set(["/health", "/ready", "/metrics"]);

export type Verdict = { ok: true } | { ok: false; status: 401 | 403; error: string };

export interface GuardRequest {
  method: string;
  path: string;
  host: string | undefined;
  origin: string | undefined;
  fetchSite: string | undefined;
  authorization: string | undefined;
}

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "[::1]"];

/** `name[:port]` split, names lower-cased; IPv6 literals keep their brackets. */
export function splitHost(value: string): { name: string; port: number | null } | null {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(value.trim());
  if (!m?.[1]) return null;
  return { name: m[1].toLowerCase(), port: m[2] === undefined ? null : Number(m[2]) };
}

const bracket = (h: string) => (h.includes(":") && !h.startsWith("[") ? `[${h}]` : h).toLowerCase();

/** Is `value` (a Host header) one of this server's names, with this server's port? */
export function hostAllowed(value: string | undefined, opts: Omit<GuardOptions, "token">): boolean {
  const h = value === undefined ? null : splitHost(value);
  if (!h) return false;
  const port = opts.port();
  // A browser omits the port only for 80; anything else names some other server.
  const portOk = port === undefined || (h.port ?? 80) === port;
  if ([...LOOPBACK_NAMES, bracket(opts.host)].includes(h.name) && portOk) return true;
  return opts.allowedHosts.some((entry) => {
    const a = splitHost(entry);
    return a !== null && a.name === h.name && (a.port === null || a.port === h.port);
  });
}

/** The pure decision for one request; the middleware below only reads headers and answers. */
export function judge(req: GuardRequest, opts: GuardOptions): Verdict {
  const probe = PROBE_PATHS.has(req.path) && !opts.guardProbes;
  if (!probe && !hostAllowed(req.host, opts)) {
    return {
      ok: false,
      status: 403,
      error: `Host "${req.host ?? ""}" is not this server; add it to http.allowed_hosts if it is`,
    };
  }
  const site = req.fetchSite?.toLowerCase();
  if (site === "cross-site" || site === "same-site") {
    return { ok: false, status: 403, error: `cross-origin requests are refused (Sec-Fetch-Site: ${site})` };
  }
  if (req.origin !== undefined && !sameOrigin(req.origin, req.host)) {
    return { ok: false, status: 403, error: `cross-origin requests are refused (Origin: ${req.origin})` };
  }
  const mutating = req.method !== "GET" && req.method !== "HEAD";
  const needsToken = mutating || (!opts.loopback && !probe);
  if (needsToken && !bearerMatches(req.authorization, opts.token)) {
    return {
      ok: false,
      status: 401,
      error: mutating
        ? "this route needs Authorization: Bearer <token> (the token is in state_dir/http-token, or http.token / OYSTER_HTTP_TOKEN)"
        : "this server is reachable beyond loopback: reads need Authorization: Bearer <token> too",
    };
  }
  return { ok: true };
}

/** The page's origin is this server's own: same host and port, http or https (a TLS proxy). */
function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    const u = new URL(origin);
    return (
      (u.protocol === "http:" || u.protocol === "https:") &&
      host !== undefined &&
      u.host === host.toLowerCase()
    );
  } catch {
    return false; // "null" (sandboxed frames, file://) is never us
  }
}

/** Constant-time comparison; an empty expected token matches nothing. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? "");
  if (!m?.[1] || !token) return false;
  const a = Buffer.from(m[1].trim());
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function guard(opts: GuardOptions): MiddlewareHandler {
  return async (c, next) => {
    const v = judge(
      {
        method: c.req.method,
        path: c.req.path,
        // Bun always fills Host; in-process requests (app.request) have only the URL.
        host: c.req.header("host") ?? new URL(c.req.url).host,
        origin: c.req.header("origin"),
        fetchSite: c.req.header("sec-fetch-site"),
        authorization: c.req.header("authorization"),
      },
      opts,
    );
    if (!v.ok) return c.json({ error: v.error }, v.status);
    return next();
  };
}
