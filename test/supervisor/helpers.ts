import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Subprocess, spawn } from "bun";
import { OYSTER_BIN, oyster, tempDir } from "../helpers/cli.ts";
import { alive, killAll, processesMentioning } from "../helpers/procs.ts";

export { alive, killAll, processesMentioning };

export const BUN = process.execPath;
export const SERVICE_SCRIPT = resolve(import.meta.dir, "fixtures/service.ts");

/** A free-ish TCP port on 127.0.0.1 (bound and released). */
export function freePort(): number {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = s.port as number;
  s.stop(true);
  return port;
}

export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith("OYSTER_")) env[k] = v;
  return { ...env, NO_COLOR: "1", ...extra };
}

export interface RunningSupervisor {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  stderr(): string;
}

/** Start `oyster supervise` in dir (with dir/oyster.yaml) in the background. */
export function startSupervise(dir: string, yaml: string, args: string[] = []): RunningSupervisor {
  writeFileSync(join(dir, "oyster.yaml"), yaml);
  const proc = spawn([OYSTER_BIN, "supervise", "--log-format", "json", ...args], {
    cwd: dir,
    env: cleanEnv(),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let err = "";
  void (async () => {
    for await (const c of proc.stderr) err += Buffer.from(c).toString();
  })();
  return { proc, stderr: () => err };
}

export async function httpStatus(port: number, path = "/health"): Promise<number> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, {
      signal: AbortSignal.timeout(500),
      keepalive: false,
    });
    await r.text();
    return r.status;
  } catch {
    return 0;
  }
}

export async function servicePid(port: number): Promise<number | null> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/pid`, {
      signal: AbortSignal.timeout(500),
      keepalive: false,
    });
    return Number(await r.text()) || null;
  } catch {
    return null;
  }
}

/** Live (non-zombie) processes whose process group is pgid. */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(f[2]) === pgid && f[0] !== "Z") out.push(Number(d));
    } catch {}
  }
  return out;
}

/**
 * A temp dir for one supervise test and a way to start `oyster supervise` in it; `onCleanup`
 * receives the teardown (kill the supervisors, then the dir's cleanup kills what is left).
 */
export function supervisorSandbox(
  prefix: string,
  onCleanup: (fn: () => Promise<void>) => void,
): { dir: string; sup: (yaml: string) => RunningSupervisor } {
  const t = tempDir(prefix);
  const sups: RunningSupervisor[] = [];
  onCleanup(async () => {
    for (const s of sups) {
      s.proc.kill("SIGKILL");
      await s.proc.exited;
    }
    t.cleanup();
  });
  return {
    dir: t.path,
    sup: (yaml) => {
      const s = startSupervise(t.path, yaml);
      sups.push(s);
      return s;
    },
  };
}

/** `oyster supervise status --json` in dir, parsed; a failure throws with its stderr. */
export function superviseStatus<T>(dir: string): T[] {
  const r = oyster(["supervise", "status", "--json"], { cwd: dir });
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as T[];
}
