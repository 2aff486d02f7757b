import { readFileSync } from "node:fs";
import os from "node:os";
import { runSync } from "../os/spawn.ts";
import type { Resources } from "../protocol/messages.ts";

/** Parse /proc/meminfo into kB values by key. */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^(\w+(?:\(\w+\))?):\s+(\d+)/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10;
const pct = (used: number, total: number) => (total > 0 ? Math.round((used / total) * 1000) / 10 : 0);

function linux(): Resources {
  const [l1, l5, l15] = readFileSync("/proc/loadavg", "utf8").trim().split(/\s+/).map(Number);
  const mi = parseMeminfo(readFileSync("/proc/meminfo", "utf8"));
  const total = mi.MemTotal ?? 0;
  const avail = mi.MemAvailable ?? (mi.MemFree ?? 0) + (mi.Cached ?? 0) + (mi.Buffers ?? 0);
  const swapTotal = mi.SwapTotal ?? 0;
  const swapFree = mi.SwapFree ?? 0;
  return {
    load1: l1 ?? 0,
    load5: l5 ?? 0,
    load15: l15 ?? 0,
    mem_total_mb: mb(total),
    mem_avail_mb: mb(avail),
    swap_total_mb: mb(swapTotal),
    swap_used_pct: pct(swapTotal - swapFree, swapTotal),
    cpus: os.availableParallelism?.() ?? os.cpus().length,
    platform: "linux",
  };
}

/** What a small system command printed, or "" when it failed or took over 2 s. */
function sh(argv: string[]): string {
  const r = runSync(argv, 2_000);
  return r.code === 0 ? r.stdout : "";
}

/** macOS: available ≈ free + inactive + speculative pages (vm_stat); swap from vm.swapusage. */
function darwin(): Resources {
  const [l1, l5, l15] = os.loadavg();
  const total = os.totalmem();
  let avail = os.freemem();
  const vm = sh(["vm_stat"]);
  const page = Number(/page size of (\d+)/.exec(vm)?.[1] ?? 4096);
  const pages = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(vm)?.[1] ?? Number.NaN);
  const free = pages("Pages free") + pages("Pages inactive") + (pages("Pages speculative") || 0);
  if (Number.isFinite(free)) avail = free * page;
  const swap = sh(["sysctl", "-n", "vm.swapusage"]);
  const unit = (s: string | undefined) => (s ? Number.parseFloat(s) * (s.endsWith("G") ? 1024 : 1) : 0);
  const swapTotal = unit(/total = ([\d.]+[MG])/.exec(swap)?.[1]);
  const swapUsed = unit(/used = ([\d.]+[MG])/.exec(swap)?.[1]);
  return {
    load1: l1 ?? 0,
    load5: l5 ?? 0,
    load15: l15 ?? 0,
    mem_total_mb: mb(total / 1024),
    mem_avail_mb: mb(avail / 1024),
    swap_total_mb: Math.round(swapTotal * 10) / 10,
    swap_used_pct: pct(swapUsed, swapTotal),
    cpus: os.cpus().length,
    platform: "darwin",
  };
}

/** Load, memory and swap of this host (seeds/004 thresholds), best effort outside Linux. */
export function readResources(): Resources {
  if (process.platform === "linux") return linux();
  if (process.platform === "darwin") return darwin();
  const [l1, l5, l15] = os.loadavg();
  return {
    load1: l1 ?? 0,
    load5: l5 ?? 0,
    load15: l15 ?? 0,
    mem_total_mb: mb(os.totalmem() / 1024),
    mem_avail_mb: mb(os.freemem() / 1024),
    swap_total_mb: 0,
    swap_used_pct: 0,
    cpus: os.cpus().length,
    platform: process.platform,
  };
}
