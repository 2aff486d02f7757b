import { existsSync } from "node:fs";
import { join } from "node:path";
import { type ServiceStatus, SOCKET_NAME } from "./types.ts";

/**
 * Client of the supervisor's control API: small JSON over HTTP on a Unix socket (mode 0600) in
 * the state directory. Used by `oyster supervise status|restart|stop|start` and by `oyster status`.
 */
export function socketPath(stateDir: string): string {
  return join(stateDir, SOCKET_NAME);
}

/** The supervisor is not running (no socket, or nobody answering on it). */
export class SupervisorNotRunning extends Error {
  override name = "SupervisorNotRunning";
}

/** The supervisor answered with an error (unknown service, bad request). */
export class SupervisorRequestError extends Error {
  override name = "SupervisorRequestError";
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const REQUEST_TIMEOUT_MS = 5_000;

export async function supervisorRequest<T>(
  stateDir: string,
  method: "GET" | "POST",
  path: string,
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<T> {
  const sock = socketPath(stateDir);
  if (!existsSync(sock))
    throw new SupervisorNotRunning(`no supervisor is running (no control socket at ${sock})`);
  let res: Response;
  try {
    res = await fetch(`http://supervisor${path}`, {
      method,
      unix: sock,
      signal: AbortSignal.timeout(timeoutMs),
    } as RequestInit);
  } catch (err) {
    throw new SupervisorNotRunning(
      `no supervisor is answering on ${sock} (${(err as Error).message}); is \`oyster supervise\` running?`,
    );
  }
  const body = (await res.json().catch(() => ({}))) as T & { error?: string };
  if (!res.ok)
    throw new SupervisorRequestError(body.error ?? `supervisor answered HTTP ${res.status}`, res.status);
  return body;
}

/** Every service's status, or null when no supervisor is running for this state directory. */
export async function fetchSupervisorStatus(stateDir: string): Promise<ServiceStatus[] | null> {
  try {
    const body = await supervisorRequest<{ services: ServiceStatus[] }>(stateDir, "GET", "/services");
    return body.services;
  } catch (err) {
    if (err instanceof SupervisorNotRunning) return null;
    throw err;
  }
}

export type ServiceAction = "restart" | "stop" | "start";

export async function serviceAction(
  stateDir: string,
  name: string,
  action: ServiceAction,
): Promise<ServiceStatus> {
  const body = await supervisorRequest<{ service: ServiceStatus }>(
    stateDir,
    "POST",
    `/services/${encodeURIComponent(name)}/${action}`,
    // A restart waits for the old instance to stop (up to its stop_timeout).
    120_000,
  );
  return body.service;
}

export type { ServiceStatus } from "./types.ts";
