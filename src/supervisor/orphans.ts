import { childStats, isLive, type ProcStat } from "../os/proc.ts";
import type { Libc } from "./libc.ts";

/**
 * As a child subreaper the supervisor inherits every orphan its services leave (a daemon that
 * `setsid`ed and whose parent exited). Bun waits only for the processes it spawned, so these
 * orphans are reaped here, by pid, once they are zombies; Bun's own children (the service
 * leaders, the only processes this supervisor spawns) are never touched.
 */
export class Orphans {
  /** Pids spawned through Bun and not yet reaped by it. */
  readonly leaders = new Set<number>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly libc: Libc) {}

  /** Live children that are not service leaders: orphans adopted from the services. */
  strays(): ProcStat[] {
    return childStats().filter((s) => !this.leaders.has(s.pid) && isLive(s));
  }

  sweep(): number {
    let n = 0;
    for (const s of childStats())
      if (s.state === "Z" && !this.leaders.has(s.pid) && this.libc.reap(s.pid)) n++;
    return n;
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.sweep(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
