import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunStatus } from "../remote/transport.ts";
import { FILES, runDir } from "./home.ts";
import { groupAlive, isFinal, pidAlive, readStatusFile, writeStatus } from "./status.ts";
import { signalGroup } from "./wrapper.ts";

export interface KillResult {
  found: boolean;
  status: RunStatus | null;
  note?: string;
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await Bun.sleep(20);
  }
  return check();
}

/**
 * SIGTERM the run's process group, SIGKILL after `graceMs`, and wait for the wrapper to record
 * `killed`. Idempotent: unknown or finished runs are left alone (a finished run's pid may
 * already belong to someone else).
 */
export async function killRun(home: string, runId: string, graceMs = 5_000): Promise<KillResult> {
  const dir = runDir(home, runId);
  if (!existsSync(dir)) return { found: false, status: null, note: `no run ${runId} on this node` };
  const before = readStatusFile(dir);
  if (before && isFinal(before))
    return { found: true, status: before, note: `run ${runId} already ${before.state}` };
  writeFileSync(join(dir, FILES.killRequested), `${Date.now()}\n`);
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
  if (pid) {
    signalGroup(pid, "SIGTERM");
    if (!(await until(() => !groupAlive(pid), graceMs))) {
      signalGroup(pid, "SIGKILL");
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
    writeStatus(dir, after);
  }
  return { found: true, status: after };
}
