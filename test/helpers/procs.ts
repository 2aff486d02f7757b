import { readdirSync, readFileSync } from "node:fs";
import { allStats, HAVE_PROC, readStat } from "../../src/os/proc.ts";

/** Alive and not a zombie (an orphan's zombie may wait long for an init that reaps slowly). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const s = readStat(pid);
  return s !== null && s.state !== "Z";
}

/** Live processes whose command line or environment mentions `needle` (e.g. a test's temp dir). */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return out; // not Linux
  }
  for (const d of entries) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
      const env = readFileSync(`/proc/${d}/environ`, "utf8");
      if ((cmd.includes(needle) || env.includes(needle)) && alive(Number(d))) out.push(Number(d));
    } catch {}
  }
  return out;
}

/** This process and its ancestors: never a cleanup's target, whatever their command lines say. */
export function selfAndAncestors(): Set<number> {
  const seen = new Set<number>();
  let pid = process.pid;
  while (pid > 1 && !seen.has(pid)) {
    seen.add(pid);
    pid = readStat(pid)?.ppid ?? 1;
  }
  return seen;
}

/** The process group `pid` is in, or null when it cannot be read. */
const groupOf = (pid: number): number | null => readStat(pid)?.pgid ?? null;

/**
 * SIGKILL each process and the group it leads, if any, but never the test runner, its
 * ancestors or the process group the runner itself is in.
 */
export function killAll(pids: number[]): void {
  const mine = selfAndAncestors();
  const ownGroup = groupOf(process.pid);
  for (const p of pids) {
    if (mine.has(p) || !(p > 1)) continue;
    try {
      if (p !== ownGroup && groupOf(p) === p) process.kill(-p, "SIGKILL");
    } catch {}
    try {
      process.kill(p, "SIGKILL");
    } catch {}
  }
}

/**
 * No live (non-zombie) process is left in process group `pgid`. Zombies do not count: an
 * orphan's zombie waits for the machine's init, which may reap slowly (a container's PID 1).
 */
export function groupGone(pgid: number): boolean {
  if (HAVE_PROC) return groupMembers(pgid).length === 0;
  try {
    process.kill(-pgid, 0);
    return false;
  } catch {
    return true;
  }
}

/** The live (non-zombie) processes in process group `pgid`. */
export function groupMembers(pgid: number): number[] {
  return allStats()
    .filter((s) => s.pgid === pgid && s.state !== "Z")
    .map((s) => s.pid);
}

/** The processes whose parent is `pid`, zombies included. */
export function childrenOf(pid: number): number[] {
  return allStats()
    .filter((s) => s.ppid === pid)
    .map((s) => s.pid);
}

/**
 * SIGKILL process group `pgid`, if it is a real one: a missing pid read as 0 (or 1) would
 * otherwise signal the test runner's own group (or every process).
 */
export function killGroupNow(pgid: number | null | undefined): void {
  if (!pgid || !Number.isInteger(pgid) || pgid <= 1) return;
  try {
    process.kill(-pgid, "SIGKILL");
  } catch {}
}

/** The raw `/proc/PID/cmdline` of `pid` (argv, each ended by NUL), or null when it cannot be read. */
export function cmdlineOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return null;
  }
}

/** Whether `root` is an ancestor of `pid` (false once the chain cannot be read). */
export function descendsFrom(pid: number, root: number): boolean {
  for (let p = pid; p > 1; ) {
    const s = readStat(p);
    if (!s) return false;
    p = s.ppid;
    if (p === root) return true;
  }
  return false;
}
