import type { ServiceConfig } from "../config/services.ts";
import { httpCheck } from "./health.ts";
import { pipeToLog, type RotatingLog } from "./logfile.ts";
import type { CheckResult, Instance, Runner } from "./runner.ts";

/** How often stop() looks whether the process group is gone. */
const GROUP_POLL_MS = 20;

/** Signal a whole process group; false when it no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Wait until no process of the group remains, up to timeoutMs; true when it is gone. */
export async function waitGroupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (signalGroup(pgid, 0)) {
    if (Date.now() >= deadline) return false;
    await Bun.sleep(GROUP_POLL_MS);
  }
  return true;
}

/**
 * A service on this machine: spawned detached (setsid), so it leads its own process group and
 * signals reach its grandchildren; stdout and stderr go to its log file; the exit is seen from
 * the `exited` promise at once, never by polling.
 */
export function localRunner(svc: ServiceConfig, log: RotatingLog, healthUrl: string | null): Runner {
  return {
    host: "local",
    async start(): Promise<Instance> {
      let proc: ReturnType<typeof Bun.spawn>;
      try {
        proc = Bun.spawn(svc.command, {
          cwd: svc.cwd,
          env: { ...process.env, ...svc.env },
          stdin: "ignore",
          stdout: "pipe",
          stderr: "pipe",
          detached: true,
        });
      } catch (err) {
        throw new Error(`cannot start ${JSON.stringify(svc.command[0])}: ${(err as Error).message}`);
      }
      const pgid = proc.pid;
      const piped = Promise.all([
        pipeToLog(proc.stdout as ReadableStream<Uint8Array>, log),
        pipeToLog(proc.stderr as ReadableStream<Uint8Array>, log),
      ]);
      const exited = proc.exited.then((code) => {
        // The leader is gone; whatever it left behind in its group goes too, so a restart never
        // finds an old grandchild still holding the port.
        signalGroup(pgid, "SIGKILL");
        return proc.signalCode ? `signal ${proc.signalCode}` : `exit ${code}`;
      });
      let stopping: Promise<void> | null = null;
      return {
        pid: pgid,
        exited,
        stop(timeoutMs) {
          stopping ??= (async () => {
            signalGroup(pgid, "SIGTERM");
            const done = await Promise.race([
              exited.then(() => true),
              Bun.sleep(timeoutMs).then(() => false),
            ]);
            if (!done || !(await waitGroupGone(pgid, 0))) signalGroup(pgid, "SIGKILL");
            await exited;
            await waitGroupGone(pgid, 2_000);
            await Promise.race([piped, Bun.sleep(200)]);
          })();
          return stopping;
        },
        kill() {
          signalGroup(pgid, "SIGKILL");
        },
      };
    },
    check(): Promise<CheckResult> {
      if (!healthUrl) return Promise.resolve({ ok: true });
      return httpCheck(healthUrl, svc.health?.timeout ?? 2_000);
    },
    async close() {},
  };
}
