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

/** SIGKILL each process and the group it leads, if any. */
export function killAll(pids: number[]): void {
  for (const p of pids) {
    try {
      process.kill(-p, "SIGKILL");
    } catch {}
    try {
      process.kill(p, "SIGKILL");
    } catch {}
  }
}
