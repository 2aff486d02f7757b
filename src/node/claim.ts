import { randomBytes } from "node:crypto";
import { existsSync, linkSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { createPrivateFile, ensurePrivateDir, readPrivateFile } from "../os/files.ts";
import type { AbandonReport, RunStatus } from "../protocol/messages.ts";
import { VERSION_STRING } from "../version.ts";
import { FILES, runDir } from "./home.ts";
import { readStatusFile, withLiveness, writeStatus } from "./status.ts";

/**
 * A run id is claimed once on a node, by whichever comes first: its start, or the controller
 * abandoning it. The controller abandons a run it launched but never saw (a ghost) before it
 * gives the task to another run, so a start request held up in a stalled channel and delivered
 * later finds the claim taken and starts nothing: the task cannot run twice. The claim is an
 * exclusive create, so a start and an abandon racing on the node cannot both win.
 */
export type Claimant = "start" | "abandoned";

/** Claim `dir`'s run for `who`: whether this call won, and who holds the claim now. */
export function claimRun(dir: string, who: Claimant): { won: boolean; holder: Claimant } {
  ensurePrivateDir(dir);
  // A whole file linked into place: link() is an exclusive create, and whoever loses reads a
  // complete claim, never a half-written one.
  const tmp = join(dir, `.${FILES.claim}.${randomBytes(6).toString("hex")}.tmp`);
  createPrivateFile(tmp, who);
  try {
    linkSync(tmp, join(dir, FILES.claim));
    return { won: true, holder: who };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return { won: false, holder: heldBy(dir) ?? "start" };
  } finally {
    unlinkSync(tmp);
  }
}

/** Who holds the run's claim; null when nobody has claimed it (or an older binary started it). */
function heldBy(dir: string): Claimant | null {
  let held: string;
  try {
    held = readPrivateFile(join(dir, FILES.claim), 64).trim();
  } catch {
    return null;
  }
  // Anything but our own word for an abandon counts as a start: the safe reading.
  return held === "abandoned" ? "abandoned" : "start";
}

/**
 * The controller gave up on run `runId` it never saw on this node: claim it as abandoned so no
 * late start can run it, and record a final `killed` status so `list` and `prune` treat it like
 * any other finished run. If a start got there first, the run exists: not abandoned, its status.
 * Asking again (the answer was lost) gives the same answer.
 */
export function abandonRun(home: string, runId: string, now = Date.now()): AbandonReport {
  const dir = runDir(home, runId);
  const abandoned: AbandonReport = {
    abandoned: true,
    status: null,
    note: `run ${runId} abandoned: a late start of it will not run`,
  };
  if (existsSync(dir)) {
    const holder = heldBy(dir);
    if (holder === "abandoned") return abandoned;
    // A run started by an older node binary has no claim, only its request and status.
    if (holder === "start" || readStatusFile(dir) || existsSync(join(dir, FILES.request)))
      return existingRun(runId, readStatusFile(dir));
  }
  if (claimRun(dir, "abandoned").holder === "start") return existingRun(runId, readStatusFile(dir));
  writeStatus(dir, {
    run_id: runId,
    task_id: "",
    pid: null,
    wrapper_pid: null,
    state: "killed",
    started_at: now,
    heartbeat_at: now,
    finished_at: now,
    exit_code: null,
    wrapper_version: VERSION_STRING,
  });
  return abandoned;
}

function existingRun(runId: string, s: RunStatus | null): AbandonReport {
  const status = s ? withLiveness(s) : null;
  return {
    abandoned: false,
    status,
    note: status
      ? `run ${runId} exists on this node (${status.state}): not abandoned`
      : `run ${runId} is being started on this node: not abandoned`,
  };
}
