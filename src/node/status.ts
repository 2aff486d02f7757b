import { existsSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { readPrivateFile, replacePrivateFile } from "../os/files.ts";
import { pidAlive } from "../os/process-group.ts";
import type { ListFilter, RunStatus } from "../protocol/messages.ts";
import { FILES, runDir, runsDir, validateRunId } from "./home.ts";

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
