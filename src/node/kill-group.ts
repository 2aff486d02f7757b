import { until } from "../os/deadline.ts";
import { HAVE_PROC, readEnviron } from "../os/proc.ts";
import { groupMembers, signalGroup } from "../os/process-group.ts";
import { validateRunId } from "./home.ts";

/**
 * Kill what is left of a run the node no longer knows (its run dir deleted or unreadable, its
 * wrapper gone) by the process group the controller recorded at start. A pid may have been
 * reused since, so only processes of that group that carry the run's `OYSTER_RUN_ID` in their
 * environment count as the run's, and only they are waited for; a group without one is not
 * ours and is left alone. Needs /proc (Linux): elsewhere nothing is signalled.
 */
export interface GroupKillResult {
  /** No process of the run is left in the group (or there never was one). */
  gone: boolean;
  /** How many of the run's processes were found before signalling. */
  found: number;
  note: string;
}

/** After SIGKILL: a process in uninterruptible sleep may take a moment to go. */
const AFTER_KILL_MS = 2_000;

/** Live (non-zombie) members of process group `pgid` whose environment names `runId`. */
export function runProcessesInGroup(pgid: number, runId: string): number[] {
  const tag = `OYSTER_RUN_ID=${runId}`;
  // An unreadable environment (gone meanwhile, or not ours to read) is not the run's.
  return groupMembers(pgid)
    .filter((s) => readEnviron(s.pid)?.includes(tag))
    .map((s) => s.pid);
}

export async function killRunGroup(runId: string, pgid: number, graceMs = 5_000): Promise<GroupKillResult> {
  validateRunId(runId);
  if (!Number.isInteger(pgid) || pgid <= 1)
    return { gone: false, found: 0, note: `refusing to signal process group ${pgid}: not a run's group` };
  if (!HAVE_PROC)
    return {
      gone: false,
      found: 0,
      note: `cannot tell whether group ${pgid} is run ${runId}'s without /proc; nothing signalled`,
    };
  const ours = () => runProcessesInGroup(pgid, runId);
  const found = ours().length;
  if (found === 0) return { gone: true, found, note: `no process of run ${runId} left in group ${pgid}` };
  signalGroup(pgid, "SIGTERM");
  if (!(await until(() => ours().length === 0, graceMs))) {
    signalGroup(pgid, "SIGKILL");
    await until(() => ours().length === 0, AFTER_KILL_MS);
  }
  const left = ours().length;
  return {
    gone: left === 0,
    found,
    note:
      left === 0
        ? `killed ${found} process(es) of run ${runId} in group ${pgid}`
        : `${left} process(es) of run ${runId} in group ${pgid} survived SIGKILL`,
  };
}
