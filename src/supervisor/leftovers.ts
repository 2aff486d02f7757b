import type { ConsolaInstance } from "consola";
import { readRegistry } from "./registry.ts";
import { collect, type Target, terminate } from "./tracking.ts";

/** Processes of a previous supervisor could not be stopped; nothing was started. */
export class LeftoversSurvive extends Error {
  override name = "LeftoversSurvive";
}

/**
 * Before starting anything, stop every local service process a previous supervisor on this state
 * dir left running (it was killed with -9, or crashed): each recorded process group (the leader
 * checked by its /proc start time, so a recycled pid is never signalled), then every process
 * still carrying a service marker of this state dir (daemons that left their group). Stop, not
 * adopt: a restarted supervisor cannot get the old instance's exit status or its stdout pipe
 * back, so it could not supervise it; a clean start costs one restart of each service.
 * Resolves with how many processes were stopped; throws when some survive SIGKILL.
 */
export async function stopLeftovers(
  stateDir: string,
  graceFor: (name: string) => number,
  defaultGraceMs: number,
  log: ConsolaInstance,
): Promise<number> {
  let reg: ReturnType<typeof readRegistry> = null;
  try {
    reg = readRegistry(stateDir);
  } catch (err) {
    log.warn(`${(err as Error).message}; looking for leftover services by their marker only`);
  }
  const stopOne = async (name: string, t: Target): Promise<{ stopped: number; left: number[] }> => {
    // Off Linux the start time is unknown: a recorded pid cannot be told from a recycled one.
    if (t.pgid != null && t.leaderStart == null) {
      log.warn(`service ${name}: cannot verify recorded pid ${t.pgid} on this system; not signalling it`);
      return { stopped: 0, left: [] };
    }
    const found = collect(t);
    if (found.length === 0) return { stopped: 0, left: [] };
    const who = name ? `service ${name}` : "marked service processes";
    log.warn(
      `${who}: ${found.length} process(es) left by a previous supervisor` +
        `${reg ? ` (pid ${reg.supervisor.pid}, since ${reg.supervisor.since})` : ""}: ` +
        `${found.map((s) => s.pid).join(", ")}; stopping them before starting anything`,
    );
    const left = await terminate(t, name ? graceFor(name) : defaultGraceMs);
    return { stopped: found.length, left };
  };
  // The recorded services in parallel (each may take its stop_timeout), then whatever still
  // carries a marker: daemons, and services no longer in the config.
  const results = await Promise.all(
    Object.entries(reg?.services ?? {}).map(([name, e]) =>
      stopOne(name, { stateDir, name, pgid: e.pgid, leaderStart: e.starttime }),
    ),
  );
  results.push(await stopOne("", { stateDir, name: null }));
  const stopped = results.reduce((n, r) => n + r.stopped, 0);
  const survivors = results.flatMap((r) => r.left);
  if (survivors.length > 0)
    throw new LeftoversSurvive(
      `processes left by a previous supervisor survive SIGKILL (pids ${survivors.join(", ")}); ` +
        "refusing to start a second copy of their services",
    );
  return stopped;
}
