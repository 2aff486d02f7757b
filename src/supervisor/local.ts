import type { ServiceConfig } from "../config/services.ts";
import { sleep, until } from "../os/deadline.ts";
import { readStat } from "../os/proc.ts";
import { groupAlive, signalGroup } from "../os/process-group.ts";
import { type Child, spawnChild } from "../os/spawn.ts";
import { httpCheck } from "./health.ts";
import type { CheckResult, Instance, Runner } from "./instance.ts";
import { pipeToLog, type RotatingLog } from "./logfile.ts";
import type { Orphans } from "./orphans.ts";
import type { Registry } from "./registry.ts";
import { killNow, MARKER_VAR, markerValue, type Target, terminate } from "./tracking.ts";

/** How often stop() looks whether the process group is gone. */
const GROUP_POLL_MS = 20;

/** Wait until no process of the group remains, up to timeoutMs; true when it is gone. */
function waitGroupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  return until(() => !groupAlive(pgid), timeoutMs, GROUP_POLL_MS);
}

/** What local services share with the supervisor: where they are recorded and who reaps orphans. */
export interface LocalContext {
  stateDir: string;
  registry: Registry | null;
  /** Set when the supervisor is a child subreaper (Linux). */
  orphans: Orphans | null;
}

/** /proc is what finds a service's processes outside its group; elsewhere only the group is. */
const TRACKS_DESCENDANTS = process.platform === "linux";

/**
 * A service on this machine: spawned detached (setsid), so it leads its own process group and
 * signals reach its grandchildren; its environment carries the service marker, so a descendant
 * that leaves the group (`setsid`, daemonizing) is still found and stopped with it; stdout and
 * stderr go to its log file; the exit is seen from the `exited` promise at once, never by polling.
 * Each instance is recorded in the registry while it runs, for a supervisor restarted after -9.
 */
export function localRunner(
  svc: ServiceConfig,
  log: RotatingLog,
  healthUrl: string | null,
  ctx: LocalContext,
): Runner {
  const marker = markerValue(ctx.stateDir, svc.name);
  /** The pid of the instance running now, for health checks that must come from it (own_pid). */
  let current: number | null = null;
  return {
    host: "local",
    async start(): Promise<Instance> {
      let proc: Child;
      try {
        proc = await spawnChild(svc.command, {
          cwd: svc.cwd,
          env: { ...process.env, ...svc.env, [MARKER_VAR]: marker },
          stdio: ["ignore", "pipe", "pipe"],
          detached: true,
        });
      } catch (err) {
        throw new Error(`cannot start ${JSON.stringify(svc.command[0])}: ${(err as Error).message}`);
      }
      const pgid = proc.pid;
      current = pgid;
      ctx.orphans?.leaders.add(pgid);
      ctx.registry?.started(svc.name, {
        pid: pgid,
        pgid,
        starttime: readStat(pgid)?.starttime ?? null,
        started_at: Date.now(),
      });
      const target: Target = { stateDir: ctx.stateDir, name: svc.name, pgid };
      const piped = Promise.all([
        pipeToLog(proc.stdout, log, "stdout"),
        pipeToLog(proc.stderr, log, "stderr"),
      ]);
      let stopping: Promise<void> | null = null;
      const exited = proc.exited.then(({ code, signal }) => {
        // The leader died on its own: whatever it left in its group goes too, so a restart never
        // finds an old grandchild still holding the port. (A requested stop gives them stop_timeout.)
        // Daemons that left the group go too: one leaked process per restart adds up.
        if (!stopping) {
          signalGroup(pgid, "SIGKILL");
          if (TRACKS_DESCENDANTS) killNow(target);
        }
        ctx.orphans?.leaders.delete(pgid);
        ctx.registry?.gone(svc.name, pgid);
        return signal ? `signal ${signal}` : `exit ${code}`;
      });
      let leaderGone = false;
      void exited.then(() => {
        leaderGone = true;
      });
      return {
        pid: pgid,
        exited,
        stop(timeoutMs) {
          stopping ??= (async () => {
            if (TRACKS_DESCENDANTS) {
              // Group members and marked descendants alike: one SIGTERM each, SIGKILL after the timeout.
              await terminate(target, timeoutMs);
            } else {
              signalGroup(pgid, "SIGTERM");
              await until(() => leaderGone && !groupAlive(pgid), timeoutMs, GROUP_POLL_MS);
              if (!leaderGone || groupAlive(pgid)) signalGroup(pgid, "SIGKILL");
            }
            await exited;
            await waitGroupGone(pgid, 2_000);
            await Promise.race([piped, sleep(200)]);
          })();
          return stopping;
        },
        kill() {
          signalGroup(pgid, "SIGKILL");
          if (TRACKS_DESCENDANTS) killNow(target);
        },
      };
    },
    check(): Promise<CheckResult> {
      if (!healthUrl) return Promise.resolve({ ok: true });
      return httpCheck(
        healthUrl,
        svc.health?.timeout ?? 2_000,
        svc.health?.own_pid ? () => current : undefined,
      );
    },
    async close() {},
  };
}
