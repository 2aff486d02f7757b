import { readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { Libc } from "./libc.ts";

/** `<state_dir>/supervise.lock`: held (flock) for the supervisor's whole life. */
export const LOCK_NAME = "supervise.lock";

export interface Holder {
  pid: number;
  host: string;
  /** ISO 8601. */
  since: string;
}

/** Another supervisor holds the state dir; the message names it. */
export class SupervisorLocked extends Error {
  override name = "SupervisorLocked";
}

export function describeHolder(h: Holder | null): string {
  return h ? `pid ${h.pid} on ${h.host}, since ${h.since}` : "holder unknown";
}

export function readHolder(path: string): Holder | null {
  try {
    const h = JSON.parse(readFileSync(path, "utf8")) as Partial<Holder>;
    return typeof h.pid === "number" && typeof h.host === "string" && typeof h.since === "string"
      ? { pid: h.pid, host: h.host, since: h.since }
      : null;
  } catch {
    return null;
  }
}

/**
 * Take the state dir for this supervisor: an OS lock, so it is released whatever way the holder
 * dies (kill -9 included) and two supervisors starting at the same instant cannot both win. The
 * holder writes who it is into the file, for the refusal message. Without libc (not Linux) this
 * answers null and the control socket check is the only guard.
 */
export function acquireLock(stateDir: string, libc: Libc | null): Holder | null {
  if (!libc) return null;
  const path = join(stateDir, LOCK_NAME);
  const fd = libc.lockFile(path);
  if (fd === null)
    throw new SupervisorLocked(
      `another supervisor is already running on ${stateDir} (${describeHolder(readHolder(path))}; lock ${path})`,
    );
  const me: Holder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  writeFileSync(path, `${JSON.stringify(me)}\n`, { mode: 0o600 });
  return me;
}
