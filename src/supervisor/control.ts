import { chmodSync, existsSync, mkdirSync, unlinkSync } from "node:fs";
import { SupervisorNotRunning, socketPath, supervisorRequest } from "./client.ts";
import { SupervisorLocked } from "./lock.ts";
import type { Service } from "./service.ts";

export interface ControlServer {
  path: string;
  stop(): void;
}

const ACTIONS = new Set(["restart", "stop", "start"]);

/**
 * The control API: small JSON over HTTP on a Unix socket (mode 0600, in a 0700 state directory),
 * so only this user can drive the supervisor. Refuses to start when another supervisor answers
 * on the same socket; a stale socket file is replaced.
 */
export async function startControlServer(
  stateDir: string,
  services: Map<string, Service>,
): Promise<ControlServer> {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = socketPath(stateDir);
  if (existsSync(path)) {
    try {
      await supervisorRequest(stateDir, "GET", "/services", 1_000);
      throw new SupervisorLocked(`another supervisor is already running on ${path}`);
    } catch (err) {
      if (!(err instanceof SupervisorNotRunning)) throw err;
      unlinkSync(path);
    }
  }
  const json = (body: unknown, status = 200) => Response.json(body, { status });
  // The socket is created 0600 from the start (umask), not chmod-ed after a window of exposure.
  const oldUmask = process.umask(0o177);
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      unix: path,
      async fetch(req) {
        const url = new URL(req.url);
        const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
        if (parts[0] !== "services") return json({ error: `no such endpoint ${url.pathname}` }, 404);
        if (parts.length === 1 && req.method === "GET")
          return json({ services: [...services.values()].map((s) => s.status()) });
        const svc = services.get(parts[1] ?? "");
        if (!svc)
          return json(
            { error: `no service named "${parts[1]}" (known: ${[...services.keys()].join(", ")})` },
            404,
          );
        if (parts.length === 2 && req.method === "GET") return json({ service: svc.status() });
        const action = parts[2] ?? "";
        if (parts.length === 3 && req.method === "POST" && ACTIONS.has(action)) {
          const status = await (action === "restart"
            ? svc.restart()
            : action === "stop"
              ? svc.stop()
              : svc.start());
          return json({ service: status });
        }
        return json({ error: `unsupported: ${req.method} ${url.pathname}` }, 400);
      },
      error(err) {
        return json({ error: err.message }, 500);
      },
    });
  } finally {
    process.umask(oldUmask);
  }
  chmodSync(path, 0o600);
  return {
    path,
    stop() {
      server.stop(true);
      try {
        unlinkSync(path);
      } catch {}
    },
  };
}
