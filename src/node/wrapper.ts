import { closeSync, existsSync, writeSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { openPrivateAppend, readPrivateFile } from "../os/files.ts";
import { signalGroup } from "../os/process-group.ts";
import { type Child, spawnChild } from "../os/spawn.ts";
import type { RunStatus } from "../protocol/messages.ts";
import { VERSION_STRING } from "../version.ts";
import { FILES, runDir } from "./home.ts";
import { parseStartRequest } from "./request.ts";
import { writeStatus } from "./status.ts";
import { placeholderEnv, substitute } from "./template.ts";

/** request.json holds the spec (capped at 1 MiB at intake) plus argv and env. */
const REQUEST_MAX_BYTES = 8 * 1024 * 1024;

export function heartbeatMs(): number {
  const v = Number(process.env.OYSTER_HEARTBEAT_MS);
  return Number.isFinite(v) && v > 0 ? v : 2_000;
}

/**
 * The detached process that owns one run: spawns the executor in its own process group with
 * output appended to output.log, heartbeats status.json, and writes the final state. Resolves
 * with the wrapper's exit code once the final status is on disk.
 */
export async function runWrapper(home: string, runId: string): Promise<number> {
  const dir = runDir(home, runId);
  const req = parseStartRequest(JSON.parse(readPrivateFile(join(dir, FILES.request), REQUEST_MAX_BYTES)));
  const output = join(dir, FILES.output);
  // The wrapper may be started under any umask (umask 000 included): files stay 0600.
  const fd = openPrivateAppend(output);
  const vars = {
    ...req.vars,
    spec: join(dir, FILES.spec),
    run_dir: dir,
    output,
  };
  const argv = substitute(req.argv, vars);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  // Every placeholder is also OYSTER_<NAME>, so a shell script reads values as data, not code.
  Object.assign(env, req.env ?? {}, placeholderEnv(vars), {
    OYSTER_RUN_DIR: dir,
    OYSTER_RUN_ID: req.run_id,
    OYSTER_TASK_ID: req.task_id,
  });

  const startedAt = Date.now();
  // Elapsed time is this machine's monotonic clock: a wall-clock step here or on the controller
  // must not make a run look older (or younger) than it is.
  const t0 = performance.now();
  const elapsed = () => Math.round(performance.now() - t0);
  const status: RunStatus = {
    run_id: req.run_id,
    task_id: req.task_id,
    pid: null,
    wrapper_pid: process.pid,
    state: "starting",
    started_at: startedAt,
    heartbeat_at: startedAt,
    finished_at: null,
    exit_code: null,
    wrapper_version: VERSION_STRING,
    elapsed_ms: 0,
  };
  const finish = (state: RunStatus["state"], exitCode: number | null) => {
    const now = Date.now();
    writeStatus(dir, {
      ...status,
      state,
      exit_code: exitCode,
      heartbeat_at: now,
      finished_at: now,
      elapsed_ms: elapsed(),
    });
  };

  let child: Child;
  try {
    child = await spawnChild(argv, { cwd: dir, env, detached: true, stdio: ["ignore", fd, fd] });
  } catch (err) {
    return failSpawn(err as Error);
  } finally {
    // The executor has its own copy of the descriptor, or never will.
    closeSync(fd);
  }
  function failSpawn(err: Error & { code?: string }): number {
    try {
      const out = openPrivateAppend(output);
      writeSync(out, `oyster: cannot start executor ${JSON.stringify(argv[0])}: ${err.message}\n`);
      closeSync(out);
    } catch {
      // output.log was swapped for something we will not write through; the status still says why.
    }
    finish("failed", err.code === "ENOENT" ? 127 : 126);
    return 0;
  }
  const pid = child.pid;
  status.pid = pid;
  status.state = "running";
  status.elapsed_ms = elapsed();
  writeStatus(dir, status);
  const killRequested = () => existsSync(join(dir, FILES.killRequested));
  // A kill that raced the spawn (dir existed, no status yet) is honoured now.
  if (killRequested()) signalGroup(pid, "SIGTERM");

  const timer = setInterval(() => {
    status.heartbeat_at = Date.now();
    status.elapsed_ms = elapsed();
    try {
      writeStatus(dir, status);
    } catch {
      // The disk may be full for a moment; the next beat retries.
    }
  }, heartbeatMs());
  // The wrapper lives in its own session; a SIGTERM aimed at it means "stop this run".
  process.on("SIGHUP", () => {});
  const forward = (sig: NodeJS.Signals) => () => signalGroup(pid, sig);
  process.on("SIGTERM", forward("SIGTERM"));
  process.on("SIGINT", forward("SIGINT"));

  const { code, signal } = await child.exited;
  clearInterval(timer);
  const exitCode = code ?? (signal ? 128 + (signalNumber(signal) ?? 0) : null);
  const state = killRequested() ? "killed" : code === 0 ? "succeeded" : "failed";
  finish(state, exitCode);
  return 0;
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
  const n = constants.signals[sig];
  return typeof n === "number" ? n : undefined;
}
