import { existsSync } from "node:fs";
import { join } from "node:path";
import { sleep } from "../os/deadline.ts";
import { linkPrivateFile, readPrivateFile, replacePrivateFile } from "../os/files.ts";
import { pidAlive } from "../os/process-group.ts";
import { type Child, spawnChild } from "../os/spawn.ts";
import type { RunStatus, StartRequest } from "../protocol/messages.ts";
import { VERSION_STRING } from "../version.ts";
import { claimRun, releaseStartClaim } from "./claim.ts";
import { FILES, runDir } from "./home.ts";
import { parseStartRequest } from "./request.ts";
import { selfArgv } from "./self.ts";
import { readStatusFile, withLiveness } from "./status.ts";

export interface StartOptions {
  /** How to invoke oyster for the wrapper (default: this process, see selfArgv). */
  self?: string[];
  /** How long to wait for the wrapper's first status.json. */
  timeoutMs?: number;
  /**
   * Called when the wrapper (our child) exits: it has just written the final status, so a
   * watcher can look now instead of at its next poll.
   */
  onExit?: () => void;
}

/**
 * A run outlives the controller that started it, so under `oyster supervise` it must not count
 * as part of the supervised `oyster run`: the supervisor stops every process that carries its
 * marker (src/supervisor/tracking.ts) with the service.
 */
function runEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { OYSTER_SUPERVISED: _, ...rest } = env;
  return rest;
}

/**
 * Create the run directory, detach the wrapper (its own session, stdio ignored) and resolve once
 * it has written status.json. Starting a run id that already has a status returns that status
 * instead of launching twice, so a retried start is harmless; one the controller abandoned
 * (claim.ts) is refused, so a start delivered late cannot run a task that runs elsewhere.
 */
export async function startRun(
  home: string,
  input: StartRequest,
  opts: StartOptions = {},
): Promise<RunStatus> {
  const req = parseStartRequest(input);
  const dir = runDir(home, req.run_id);
  const existing = readStatusFile(dir);
  if (existing) return withLiveness(existing);
  if (existsSync(join(dir, FILES.request)))
    throw new Error(`run ${req.run_id} is already being started on this node (no status yet)`);
  // 0700 run dir (and runs/, OYSTER_HOME if this creates them), 0600 files: specs may hold secrets.
  const claim = claimRun(dir, "start");
  if (claim.holder === "abandoned")
    throw new Error(
      `run ${req.run_id} was abandoned by the controller before this start arrived (it was held up on the way): not starting it`,
    );
  if (!claim.won) {
    const s = readStatusFile(dir);
    if (s) return withLiveness(s);
    throw new Error(`run ${req.run_id} is already being started on this node (no status yet)`);
  }
  const self = opts.self ?? selfArgv();
  let child: Child;
  try {
    replacePrivateFile(join(dir, FILES.spec), req.spec);
    replacePrivateFile(join(dir, FILES.request), JSON.stringify(req));
    try {
      child = await spawnChild([...self, "exec", "wrapper", "--home", home, req.run_id], {
        detached: true,
        cwd: dir,
        env: runEnv(process.env),
      });
    } catch (err) {
      throw new Error(`could not start the oyster wrapper (${self[0]}): ${(err as Error).message}`);
    }
  } catch (err) {
    // Nothing runs: the claim goes too, so the run id reads as never started.
    releaseStartClaim(dir);
    throw err;
  }
  let exited = false;
  void child.exited.then(() => {
    exited = true;
    opts.onExit?.();
  });
  child.unref();

  // Launch latency is one process spawn, not the wrapper's startup: record "starting" with the
  // wrapper's pid at once. link() is an exclusive create, so if the wrapper already wrote its
  // own status (rename), that one stays; the wrapper's later writes replace this one.
  const now = Date.now();
  const initial: RunStatus = {
    run_id: req.run_id,
    task_id: req.task_id,
    pid: null,
    wrapper_pid: child.pid,
    state: "starting",
    started_at: now,
    heartbeat_at: now,
    finished_at: null,
    exit_code: null,
    wrapper_version: VERSION_STRING,
  };
  // False: the wrapper was faster.
  linkPrivateFile(join(dir, FILES.status), JSON.stringify(initial));

  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    const s = readStatusFile(dir);
    if (s) return withLiveness(s);
    if (exited || (!pidAlive(child.pid) && !readStatusFile(dir))) {
      throw new Error(
        `the oyster wrapper for run ${req.run_id} exited before writing status.json${tail(dir)}`,
      );
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for run ${req.run_id} to write status.json${tail(dir)}`);
    await sleep(5);
  }
}

/** Enough of output.log to say why a wrapper died at start; a bigger log is not quoted. */
const TAIL_MAX_BYTES = 64 * 1024;

function tail(dir: string): string {
  try {
    const t = readPrivateFile(join(dir, FILES.output), TAIL_MAX_BYTES)
      .trim()
      .split("\n")
      .slice(-5)
      .join(" | ");
    return t ? `; output.log: ${t}` : "";
  } catch {
    return "";
  }
}
