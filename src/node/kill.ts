import { closeSync, existsSync, writeSync } from "node:fs";
import { join } from "node:path";
import { until } from "../os/deadline.ts";
import { openPrivateAppend } from "../os/files.ts";
import { groupAlive, pidAlive, signalGroup } from "../os/process-group.ts";
import type { RunStatus } from "../protocol/messages.ts";
import { FILES, runDir } from "./home.ts";
import { isFinal, readStatusFile, writeStatus } from "./status.ts";

export interface KillResult {
  found: boolean;
  status: RunStatus | null;
  /** A signal reached the run's process group: the only ground for saying it was killed. */
  signalled: boolean;
  note?: string;
}

/**
 * Leave the `killed` marker for the wrapper; an error (a full disk, a read-only or unwritable
 * run dir, a symlink planted at the marker's name) is returned, never thrown: the marker only
 * decides how the end is recorded, the signal is what stops the run.
 */
function writeKillMarker(dir: string): string | null {
  try {
    const fd = openPrivateAppend(join(dir, FILES.killRequested));
    try {
      writeSync(fd, `${Date.now()}\n`);
    } finally {
      closeSync(fd);
    }
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * SIGTERM the run's process group, SIGKILL after `graceMs`, and wait for the wrapper to record
 * `killed`. Idempotent: unknown or finished runs are left alone (a finished run's pid may
 * already belong to someone else).
 */
export async function killRun(home: string, runId: string, graceMs = 5_000): Promise<KillResult> {
  const dir = runDir(home, runId);
  if (!existsSync(dir))
    return { found: false, status: null, signalled: false, note: `no run ${runId} on this node` };
  const before = readStatusFile(dir);
  if (before && isFinal(before))
    return { found: true, status: before, signalled: false, note: `run ${runId} already ${before.state}` };
  const markerError = writeKillMarker(dir);
  if (!before || before.state === "starting") {
    // Start is still in flight: the wrapper checks the marker right after spawning the executor,
    // but only a recorded pid lets us escalate to SIGKILL, so wait for it.
    await until(() => {
      const now = readStatusFile(dir);
      return now !== null && (now.state !== "starting" || !pidAlive(now.wrapper_pid));
    }, 2_000);
  }
  const s = readStatusFile(dir);
  const pid = s?.pid;
  let signalled = false;
  if (pid) {
    signalled = signalGroup(pid, "SIGTERM");
    if (!(await until(() => !groupAlive(pid), graceMs))) {
      signalled = signalGroup(pid, "SIGKILL") || signalled;
      await until(() => !groupAlive(pid), 2_000);
    }
  }
  // The wrapper records the end; if it is gone (lost), record it here so the run does not stay "running".
  const wrapper = s?.wrapper_pid ?? null;
  await until(() => {
    const now = readStatusFile(dir);
    return (now !== null && isFinal(now)) || !pidAlive(wrapper);
  }, 3_000);
  let after = readStatusFile(dir);
  if (after && !isFinal(after) && !pidAlive(after.wrapper_pid)) {
    const now = Date.now();
    after = { ...after, state: "killed", finished_at: now, heartbeat_at: now, exit_code: after.exit_code };
    try {
      writeStatus(dir, after);
    } catch {
      // Same causes as a failed marker; the group was signalled regardless, and `signalled` says so.
    }
  }
  const notes = [
    markerError ? `could not write the kill marker (${markerError})` : "",
    pid ? (signalled ? "" : `process group ${pid} was already gone`) : "no executor pid recorded",
  ].filter(Boolean);
  return { found: true, status: after, signalled, ...(notes.length ? { note: notes.join("; ") } : {}) };
}
