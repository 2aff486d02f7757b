import { sleep } from "../os/deadline.ts";
import { allStats, isSameProcess, type ProcStat, readEnviron } from "../os/proc.ts";
import { signalPid } from "../os/process-group.ts";

/**
 * How the supervisor finds every process a local service left, including one that `setsid`ed
 * itself out of the service's process group and outlived its parent: each service is started
 * with `OYSTER_SUPERVISED=<state_dir>#<name>` in its environment, which its descendants inherit,
 * and `/proc/PID/environ` shows it. With the process group (and the recorded leader's start time,
 * against pid reuse) this names the whole service, even after the supervisor itself was killed.
 */
export const MARKER_VAR = "OYSTER_SUPERVISED";

export function markerValue(stateDir: string, name: string): string {
  return `${stateDir}#${name}`;
}

/**
 * The service a process's environment marks it as belonging to under this state dir, or null.
 * Service names never contain '#', so a state dir that itself contains one cannot be confused.
 */
export function markedService(environ: readonly string[], stateDir: string): string | null {
  const prefix = `${MARKER_VAR}=${stateDir}#`;
  for (const e of environ) {
    if (!e.startsWith(prefix)) continue;
    const name = e.slice(prefix.length);
    return name && !name.includes("#") ? name : null;
  }
  return null;
}

/** What belongs to one service instance (or to every service of a state dir, when name is null). */
export interface Target {
  stateDir: string;
  /** null: any service of this state dir. */
  name: string | null;
  /** The instance's process group, when known; with leaderStart, guarded against pid reuse. */
  pgid?: number | null;
  /** The leader's /proc start time when recorded; null: the caller knows the group is ours. */
  leaderStart?: number | null;
}

const alive = (s: ProcStat) => s.state !== "Z" && s.state !== "X";

/**
 * Live processes of the target: members of its group, and every process carrying its marker.
 * A recorded group counts only while its leader is the recorded process or gone (a pgid is not
 * reused while any member holds it), so a recycled pid never makes a stranger's group ours.
 */
export function collect(t: Target, stats: ProcStat[] = allStats()): ProcStat[] {
  const self = process.pid;
  const out = new Map<number, ProcStat>();
  const pgid = t.pgid ?? null;
  let groupOurs = pgid !== null;
  if (pgid !== null && t.leaderStart != null) {
    const leader = stats.find((s) => s.pid === pgid);
    groupOurs = !leader || !alive(leader) || leader.starttime === t.leaderStart;
  }
  for (const s of stats) {
    if (s.pid === self || !alive(s)) continue;
    if (groupOurs && s.pgid === pgid) {
      out.set(s.pid, s);
      continue;
    }
    const env = readEnviron(s.pid);
    if (!env) continue;
    const svc = markedService(env, t.stateDir);
    if (svc !== null && (t.name === null || svc === t.name)) out.set(s.pid, s);
  }
  return [...out.values()];
}

const signal = (s: ProcStat, sig: NodeJS.Signals): boolean => signalPid(s.pid, sig);

const POLL_MS = 20;

/**
 * Stop everything of the target: SIGTERM, up to graceMs for it to go, SIGKILL what is left, then
 * verify (up to 2 s) that nothing remains. Rescans each round, so a process forked meanwhile is
 * caught too. Resolves with the pids still alive at the end (empty when all are gone).
 */
export async function terminate(t: Target, graceMs: number): Promise<number[]> {
  let procs = collect(t);
  if (procs.length === 0) return [];
  for (const s of procs) signal(s, "SIGTERM");
  const termDeadline = Date.now() + graceMs;
  // During the grace period only the signalled processes are watched (a full scan reads every
  // process's environment); the SIGKILL rounds below rescan, for anything forked meanwhile.
  while (procs.length > 0 && Date.now() < termDeadline) {
    await sleep(POLL_MS);
    procs = procs.filter((s) => isSameProcess(s.pid, s.starttime));
  }
  procs = collect(t);
  const killDeadline = Date.now() + 2_000;
  while (procs.length > 0 && Date.now() < killDeadline) {
    for (const s of procs) signal(s, "SIGKILL");
    await sleep(POLL_MS);
    procs = collect(t);
  }
  return procs.map((s) => s.pid);
}

/** SIGKILL everything of the target now (no grace): a leader that died leaves nothing behind. */
export function killNow(t: Target): number {
  const procs = collect(t);
  for (const s of procs) signal(s, "SIGKILL");
  return procs.length;
}
