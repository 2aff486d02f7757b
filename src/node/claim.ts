import { existsSync, lstatSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ensurePrivateDir, linkPrivateFile, readPrivateFile } from "../os/files.ts";
import type { AbandonReport, RunStatus } from "../protocol/messages.ts";
import { FILES, runDir } from "./home.ts";
import { readStatusFile, withLiveness } from "./status.ts";

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
  // Whoever loses the race reads a complete claim, never a half-written one.
  if (linkPrivateFile(join(dir, FILES.claim), who)) return { won: true, holder: who };
  return { won: false, holder: heldBy(dir) ?? "start" };
}

/** The controller abandoned this run dir's run id: its claim is the fence, keep it (read.ts). */
export function isAbandoned(dir: string): boolean {
  return heldBy(dir) === "abandoned";
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
 * How long a start may hold its claim without a status before the claim alone is the fence: a
 * start writes its first status within its own timeout (10 s) or fails; past this, it died or
 * the run's status was deleted, and no later start of the run id can run it anyway.
 */
export const START_SETTLE_MS = 30_000;

/**
 * The controller gave up on run `runId` it never saw on this node: claim it as abandoned so no
 * late start can run it. Nothing else is written: an abandoned run id is never listed (it has
 * no status) and never pruned (read.ts), so the fence outlives any start still on its way.
 * If a start got there first, the run exists: not abandoned, with its status. Asking again
 * (the answer was lost) gives the same answer.
 */
export function abandonRun(home: string, runId: string, now = Date.now()): AbandonReport {
  const dir = runDir(home, runId);
  const fenced = (note: string): AbandonReport => ({ abandoned: true, status: null, note });
  if (existsSync(dir)) {
    const holder = heldBy(dir);
    if (holder === "abandoned") return fenced(`run ${runId} abandoned: a late start of it will not run`);
    const s = readStatusFile(dir);
    if (s) return existingRun(runId, s);
    // A run started by an older node binary has no claim, only its request.
    const since = claimedAt(dir);
    if (holder === "start" || since !== null) {
      const ageMs = since === null ? 0 : now - since;
      if (ageMs < START_SETTLE_MS) return existingRun(runId, null);
      return fenced(
        `run ${runId} was claimed by a start ${Math.round(ageMs / 1000)} s ago that left no status: no later start of it can run`,
      );
    }
  }
  if (claimRun(dir, "abandoned").holder === "start") return existingRun(runId, readStatusFile(dir));
  return fenced(`run ${runId} abandoned: a late start of it will not run`);
}

/** When a start claimed the run (its claim file, else an older binary's request), or null. */
function claimedAt(dir: string): number | null {
  for (const f of [FILES.claim, FILES.request]) {
    try {
      return lstatSync(join(dir, f)).mtimeMs;
    } catch {
      // not there: try the next
    }
  }
  return null;
}

/**
 * Give up a claim this start won and could not use (its files could not be written, the
 * wrapper could not be spawned): the run id is as if its start never arrived, so the
 * controller's abandon or retry of it is answered at once instead of after START_SETTLE_MS.
 */
export function releaseStartClaim(dir: string): void {
  for (const f of [FILES.request, FILES.spec, FILES.claim]) rmSync(join(dir, f), { force: true });
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
