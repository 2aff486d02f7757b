import type { Hono } from "hono";

/** Why a bind failed, in words an operator can act on (seeds/003: the port may be taken). */
export class ServeError extends Error {
  override name = "ServeError";
}

export interface RunningServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** A host as it goes into a URL: IPv6 addresses in brackets (once). */
export const urlHost = (host: string) => (host.includes(":") && !host.startsWith("[") ? `[${host}]` : host);

export const isLoopback = (host: string) =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host);

/** Larger request bodies get 413 from Bun itself, chunked or not (8 specs of 1 MiB). */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** Bind `app` with Bun.serve; port 0 picks a free port (reported in `url`). */
export function serveApp(app: Hono, host: string, port: number): RunningServer {
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: host,
      port,
      fetch: app.fetch,
      idleTimeout: 30,
      maxRequestBodySize: MAX_BODY_BYTES,
    });
  } catch (err) {
    const e = err as Error & { code?: string };
    const why =
      e.code === "EADDRINUSE" || /in use/i.test(e.message)
        ? "the port is already in use (another oyster run? pick one with --port or http.port)"
        : e.code === "EACCES"
          ? "permission denied (ports below 1024 need privileges)"
          : e.message;
    throw new ServeError(`cannot listen on ${host}:${port}: ${why}`, { cause: err });
  }
  const bound = server.port ?? port;
  return {
    url: `http://${urlHost(host)}:${bound}`,
    port: bound,
    stop: async () => {
      await server.stop(true);
    },
  };
}
