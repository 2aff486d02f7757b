import { existsSync, readdirSync, readFileSync } from "node:fs";

/**
 * What oyster reads about processes from Linux `/proc` (the node's run liveness, the
 * supervisor's tracking). Every function answers "don't
 * know" (null / empty) on other systems or when a process vanished while being read, so callers
 * fall back to what they can verify without it.
 */
export interface ProcStat {
  pid: number;
  /** One letter: R, S, D, Z (zombie), X (dead), T, … */
  state: string;
  ppid: number;
  pgid: number;
  sid: number;
  /** Clock ticks after boot when the process started: with the pid, it names one process. */
  starttime: number;
}

const IS_LINUX = process.platform === "linux";

/** Parse the text of `/proc/PID/stat`; the command may contain spaces and parentheses. */
export function parseStat(pid: number, text: string): ProcStat | null {
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  // Fields after "(comm)": 3 state, 4 ppid, 5 pgrp, 6 session, … 22 starttime (1-based).
  const f = text.slice(close + 2).split(" ");
  const starttime = Number(f[19]);
  if (f.length < 20 || !Number.isFinite(starttime)) return null;
  return {
    pid,
    state: f[0] ?? "?",
    ppid: Number(f[1]),
    pgid: Number(f[2]),
    sid: Number(f[3]),
    starttime,
  };
}

/** Is `/proc` there to read (Linux)? Elsewhere callers fall back to kill(pid, 0). */
export const HAVE_PROC = IS_LINUX && existsSync("/proc/self/stat");

/** A live process: not a zombie (Z) or dead (X) one still waiting for its reaper. */
export const isLive = (s: ProcStat): boolean => s.state !== "Z" && s.state !== "X";

export function readStat(pid: number): ProcStat | null {
  if (!IS_LINUX) return null;
  try {
    return parseStat(pid, readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return null;
  }
}

/** Whether a live (not zombie) process is this one: same pid and same start time. */
export function isSameProcess(pid: number, starttime: number): boolean {
  const s = readStat(pid);
  return s !== null && s.starttime === starttime && isLive(s);
}

/** The entries of a /proc directory (empty off Linux, or when it cannot be read). */
function procDir(path: string): string[] {
  if (!IS_LINUX) return [];
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** Every process visible in /proc (empty off Linux). */
export function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const d of procDir("/proc")) {
    if (d.charCodeAt(0) > 57 || d.charCodeAt(0) < 48) continue;
    const s = readStat(Number(d));
    if (s) out.push(s);
  }
  return out;
}

/**
 * This process's direct children, from /proc/self/task/<tid>/children (cheap: no full /proc
 * scan); empty off Linux.
 */
export function childStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const tid of procDir("/proc/self/task")) {
    let list: string;
    try {
      list = readFileSync(`/proc/self/task/${tid}/children`, "utf8");
    } catch {
      continue;
    }
    for (const p of list.split(" ")) {
      const s = p ? readStat(Number(p)) : null;
      if (s) out.push(s);
    }
  }
  return out;
}

/** The NUL-separated `NAME=value` entries of a process's initial environment, or null if unreadable. */
export function readEnviron(pid: number): string[] | null {
  if (!IS_LINUX) return null;
  try {
    return readFileSync(`/proc/${pid}/environ`, "latin1").split("\0");
  } catch {
    return null;
  }
}
