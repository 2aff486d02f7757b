import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { ListFilter, RunStatus } from "../protocol/messages.ts";
import { FILES, runDir, runsDir, validateRunId } from "./home.ts";
import { readPrivateFile, replacePrivateFile } from "./private-files.ts";

/** A status.json is a few hundred bytes; anything bigger is broken (or planted) and not read whole. */
export const STATUS_MAX_BYTES = 64 * 1024;

export const FINAL_STATES: ReadonlySet<RunStatus["state"]> = new Set(["succeeded", "failed", "killed"]);

export function isFinal(s: RunStatus): boolean {
  return FINAL_STATES.has(s.state);
}

/** Atomic replace: readers see the old status or the new one, never half a file. */
export function writeStatus(dir: string, status: RunStatus): void {
  replacePrivateFile(join(dir, FILES.status), `${JSON.stringify(status)}\n`);
}

/**
 * The run's status.json, or null when it is missing or broken: a symlink, not a regular file,
 * over STATUS_MAX_BYTES, not JSON, or about another run than its directory's.
 */
export function readStatusFile(dir: string): RunStatus | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readPrivateFile(join(dir, FILES.status), STATUS_MAX_BYTES));
  } catch {
    return null;
  }
  return isStatusOf(parsed, basename(dir)) ? parsed : null;
}

function isStatusOf(v: unknown, runId: string): v is RunStatus {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Record<string, unknown>;
  return s.run_id === runId && typeof s.state === "string" && typeof s.started_at === "number";
}

/** [state, pgrp] from /proc/<pid>/stat, or null when the process is gone (Linux only). */
function procStat(pid: number): [string, number] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return [f[0]!, Number(f[2])];
  } catch {
    return null;
  }
}

const HAVE_PROC = process.platform === "linux" && existsSync("/proc/self/stat");

/**
 * Is the process running? A zombie counts as gone: orphans are reparented to an init that may
 * reap them late (some container inits never do), and kill(pid, 0) succeeds on zombies.
 */
export function pidAlive(pid: number | null): boolean {
  if (!pid || pid <= 0) return false;
  if (HAVE_PROC) {
    const st = procStat(pid);
    return st !== null && st[0] !== "Z";
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else; still alive.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Does any non-zombie process remain in process group `pgid`? */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  if (!HAVE_PROC) return true;
  for (const d of readdirSync("/proc")) {
    if (d.charCodeAt(0) < 48 || d.charCodeAt(0) > 57) continue;
    const st = procStat(Number(d));
    if (st && st[1] === pgid && st[0] !== "Z") return true;
  }
  return false;
}

/** A status that claims to run but whose wrapper is gone is reported `lost` (computed, never written). */
export function withLiveness(s: RunStatus, alive: (pid: number | null) => boolean = pidAlive): RunStatus {
  if ((s.state === "running" || s.state === "starting") && !alive(s.wrapper_pid))
    return { ...s, state: "lost" };
  return s;
}

/**
 * Read a run's status with liveness applied. A wrapper that just wrote its final state and
 * exited would look lost between the read and the pid check, so a lost verdict re-reads once.
 */
export function liveStatus(dir: string): RunStatus | null {
  const s = readStatusFile(dir);
  if (!s) return null;
  const live = withLiveness(s);
  if (live.state !== "lost") return live;
  const again = readStatusFile(dir);
  return again ? withLiveness(again) : live;
}

export function readStatus(home: string, runId: string): RunStatus | null {
  return liveStatus(runDir(home, runId));
}

/** The status of every run directory under `home` that `filter` asks for, in one call. */
export function listRuns(home: string, filter: ListFilter = {}): RunStatus[] {
  const root = runsDir(home);
  if (!existsSync(root)) return [];
  const named = new Set(filter.runs ?? []);
  const everything = !filter.active && filter.runs === undefined;
  // Only named runs: read just their directories, not the whole runs/ tree.
  const names = filter.active || everything ? readdirSync(root) : [...named].filter(isRunId);
  const out: RunStatus[] = [];
  for (const name of names) {
    const s = liveStatus(join(root, name));
    if (s && (everything || named.has(s.run_id) || (filter.active && !FINAL_STATES.has(s.state))))
      out.push(s);
  }
  out.sort((a, b) => a.started_at - b.started_at || a.run_id.localeCompare(b.run_id));
  return out;
}

/** A name that can be a run directory (and cannot climb out of runs/). */
function isRunId(name: string): boolean {
  try {
    validateRunId(name);
    return true;
  } catch {
    return false;
  }
}
