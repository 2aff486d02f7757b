import { allStats, HAVE_PROC, isLive, type ProcStat, readStat } from "./proc.ts";

/**
 * Signalling and "is it alive" for processes and process groups, in one place. Alive means not
 * a zombie: orphans are reparented to an init that may reap them late (some container inits
 * never do), and kill(pid, 0) succeeds on zombies, so on Linux /proc decides.
 */

/**
 * Send `sig` to one process (or, negative, a group); false when it is gone (or not ours to
 * signal). 0, -1, 1 and anything not an integer are refused: kill(0) is the caller's own group,
 * kill(-1) every process it may signal, 1 is init — a missing pid must never become one of those.
 */
export function signalPid(pid: number, sig: NodeJS.Signals | 0): boolean {
  if (!Number.isInteger(pid) || Math.abs(pid) <= 1) return false;
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Send `sig` to every process of group `pgid`; false when the group no longer exists. */
export function signalGroup(pgid: number, sig: NodeJS.Signals | 0): boolean {
  return signalPid(-pgid, sig);
}

/** kill(target, 0) where EPERM (it exists but belongs to someone else) counts as present. */
function present(target: number): boolean {
  if (!Number.isInteger(target) || Math.abs(target) <= 1) return false;
  try {
    process.kill(target, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Is the process running (zombies count as gone)? */
export function pidAlive(pid: number | null): boolean {
  if (!pid || pid <= 0) return false;
  if (!HAVE_PROC) return present(pid);
  const st = readStat(pid);
  return st !== null && isLive(st);
}

/** The live (non-zombie) members of group `pgid`; empty without /proc. */
export function groupMembers(pgid: number): ProcStat[] {
  return allStats().filter((s) => s.pgid === pgid && isLive(s));
}

/** Does any live process remain in group `pgid`? Without /proc, whether the group exists at all. */
export function groupAlive(pgid: number): boolean {
  if (!present(-pgid)) return false;
  if (!HAVE_PROC) return true;
  return groupMembers(pgid).length > 0;
}
