import { existsSync, readdirSync, readFileSync } from "node:fs";
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

const HAVE_PROC = process.platform === "linux" && existsSync("/proc/self/stat");
const POLL_MS = 20;
/** After SIGKILL: a process in uninterruptible sleep may take a moment to go. */
const AFTER_KILL_MS = 2_000;

/** Live (non-zombie) members of process group `pgid` whose environment names `runId`. */
export function runProcessesInGroup(pgid: number, runId: string): number[] {
  const tag = `OYSTER_RUN_ID=${runId}`;
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    const c = d.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (f[0] === "Z" || Number(f[2]) !== pgid) continue;
      const env = readFileSync(`/proc/${d}/environ`, "utf8").split("\0");
      if (env.includes(tag)) out.push(Number(d));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

function signal(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // the group is gone
  }
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await Bun.sleep(POLL_MS);
  }
  return check();
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
  signal(pgid, "SIGTERM");
  if (!(await until(() => ours().length === 0, graceMs))) {
    signal(pgid, "SIGKILL");
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
