import { readdirSync, readFileSync } from "node:fs";

/** Alive and not a zombie (an orphan's zombie may wait long for an init that reaps slowly). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
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

/** Field `n` (1-based, after the command name) of /proc/PID/stat, or null. */
function statField(pid: number | "self", n: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const v = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[n - 3]);
    return Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

/** This process and its ancestors: never a cleanup's target, whatever their command lines say. */
function ownLine(): Set<number> {
  const seen = new Set<number>();
  let pid = process.pid;
  while (pid > 1 && !seen.has(pid)) {
    seen.add(pid);
    pid = statField(pid, 4) ?? 1;
  }
  return seen;
}

/**
 * SIGKILL each process and the group it leads, if any, but never the test runner, its
 * ancestors or the process group the runner itself is in.
 */
export function killAll(pids: number[]): void {
  const mine = ownLine();
  const ownGroup = statField("self", 5);
  for (const p of pids) {
    if (mine.has(p) || !(p > 1)) continue;
    try {
      if (p !== ownGroup && statField(p, 5) === p) process.kill(-p, "SIGKILL");
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
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    try {
      process.kill(-pgid, 0);
      return false;
    } catch {
      return true;
    }
  }
  for (const d of entries) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (f[0] !== "Z" && Number(f[2]) === pgid) return false;
    } catch {}
  }
  return true;
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
