import type { Config } from "../config/schema.ts";
import { allows, breakerPolicy, nodeBreakerKey } from "../dispatch/breaker.ts";
import { resourceProblem } from "../dispatch/placement.ts";
import type { OverloadCause } from "../dispatch/reasons.ts";
import { logger } from "../log.ts";
import { withTimeout } from "../os/deadline.ts";
import { getBreaker } from "../store/breakers.ts";
import type { Store } from "../store/db.ts";
import { recordEvent } from "../store/events.ts";
import { getNode, recordProbe, resourceReading } from "../store/nodes.ts";
import { announce, reportOutcome, reportProbeAnswered } from "./breakers.ts";
import type { TransportList } from "./context.ts";
import { mapLimit } from "./map-limit.ts";

const log = logger("probe");

/** What the probe uses: every node's transport, the store, the clock, and whom to tell. */
export interface ProbeDeps {
  store: Store;
  config: Pick<Config, "ssh" | "breaker" | "resources">;
  transports: TransportList;
  now: () => number;
  notify: (payload: Record<string, unknown>) => void;
  wakeScheduler: () => void;
}

export interface ProbeOptions {
  /** Reconcile a node's runs now (the reaper's catch-up); called when an offline node answers. */
  onBack?: (node: string) => Promise<void>;
}

/**
 * Reachability, version and resources of every node, all at once with bounded concurrency.
 * A failed probe takes the node offline and counts on its breaker. Every node is probed every
 * cycle, an OPEN breaker's too: an offline node that answers is back (issue 13.5) — online, its
 * breaker HALF_OPEN at once so its next launch is the one probe, and its finished runs
 * reconciled in the same cycle — instead of sitting out the breaker's whole `open_for`.
 */
export function createProbe(ctx: ProbeDeps, opts: ProbeOptions = {}) {
  const cfg = ctx.config;
  const policy = breakerPolicy(cfg.breaker);
  const wasOnline = new Map<string, boolean>();
  /** Each node's overload cause at its last reading (null: under every threshold). */
  const overload = new Map<string, OverloadCause | null>();

  async function probeNode(name: string): Promise<void> {
    const t = ctx.transports.get(name);
    if (!t) return;
    try {
      const [resources, version] = await withTimeout(
        Promise.all([t.resources(), t.version()]),
        cfg.ssh.command_timeout,
        `probe of ${name}`,
      );
      const done = ctx.now();
      const { transition, back } = ctx.store.tx((db) => {
        const back = getNode(db, name)?.online === 0;
        recordProbe(db, name, { ok: true, version, resources: resourceReading(resources) }, done);
        // The scheduler refuses an overloaded node every tick (counted in the stats by cause);
        // the event log gets only the changes: overloaded, another cause, under the thresholds.
        const problem = resourceProblem(
          { resources: { ...resources, swap_pct: resources.swap_used_pct } },
          cfg.resources,
        );
        const before = overload.get(name) ?? null;
        if ((problem?.cause ?? null) !== before) {
          const kind = problem ? "server_overloaded" : "server_recovered";
          recordEvent(db, { kind, source: "probe", node: name, data: problem ?? { was: before } }, done);
          if (problem)
            log.warn(`node ${name} is over its resource thresholds: ${problem.detail}`, { node: name });
          else if (before) log.info(`node ${name} is under its resource thresholds again`, { node: name });
        }
        overload.set(name, problem?.cause ?? null);
        // An offline node that answers is back: HALF_OPEN now. A node that stayed reachable but
        // opened its breaker by failing launches keeps it OPEN for `open_for`: answering a probe
        // says nothing about its launches. Either way only a launch closes the breaker.
        const key = nodeBreakerKey(name);
        const answered = back || allows(getBreaker(db, key), done, policy);
        return { transition: answered ? reportProbeAnswered(db, key, policy, done) : null, back };
      });
      announce([transition], ctx.notify);
      if (wasOnline.get(name) !== true) {
        log.info(`node ${name} is online (${version})`, { node: name });
        ctx.wakeScheduler();
      }
      wasOnline.set(name, true);
      // Runs that ended while it was away are recorded now, not at the reaper's next cycle.
      if (back && opts.onBack) await opts.onBack(name);
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      const done = ctx.now();
      const transition = ctx.store.tx((db) => {
        recordProbe(db, name, { ok: false, error: msg }, done);
        return reportOutcome(db, nodeBreakerKey(name), false, policy, done);
      });
      announce([transition], ctx.notify);
      if (wasOnline.get(name) !== false) log.warn(`node ${name} is offline: ${msg}`, { node: name });
      wasOnline.set(name, false);
    }
  }

  const probeNodes = async (names: string[]): Promise<void> => {
    await mapLimit(names, cfg.ssh.concurrency, probeNode);
  };
  return {
    tick: () => probeNodes([...ctx.transports.keys()]),
    /** Probe some nodes now (the reaper's recovery of offline nodes). */
    probeNodes,
  };
}
