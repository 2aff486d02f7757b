import type { Config } from "../config/schema.ts";
import { type RunEnd, retryPolicyOf, runOutcome } from "../dispatch/run-end.ts";
import { logger } from "../log.ts";
import { metrics } from "../metrics.ts";
import { withTimeout } from "../os/deadline.ts";
import type { Store } from "../store/db.ts";
import { recordEvent } from "../store/events.ts";
import { cancelRequestedRuns } from "../store/healing.ts";
import { listNodes } from "../store/nodes.ts";
import { finishRun } from "../store/runs.ts";
import type { TransportLookup } from "./context.ts";
import { mapLimit } from "./map-limit.ts";

/** How a cancel ends a run: the end finishRun records and the metric it counts. */
const CANCELLED: RunEnd = { state: "cancelled", reason: "cancelled" };

const log = logger("cancel");

/**
 * Carries out `tasks cancel` on running tasks, run from every scheduler tick (so within one
 * scheduler interval, whether the cancel came through the API or a CLI that wrote the store):
 * asks the run's node to kill it, and only once the node has the kill records the run and the
 * task as cancelled. A node that cannot be asked leaves the cancel pending, with a
 * `cancel_kill_pending` event naming why (once per run); the next tick and the reaper retry.
 */
export interface CancelDeps {
  store: Store;
  config: Pick<Config, "ssh" | "retry">;
  transports: TransportLookup;
  now: () => number;
  /** Runs whose start is in flight: killed once the node has them. */
  launching: ReadonlySet<string>;
  wakeScheduler: () => void;
}

export function createCanceller(ctx: CancelDeps) {
  const cfg = ctx.config;
  const retry = retryPolicyOf(cfg.retry);
  /** Runs whose pending kill was already reported, so an offline node is one event, not one a tick. */
  const reported = new Set<string>();

  function pending(run: { run_id: string; task_id: string; node: string }, why: string): void {
    if (reported.has(run.run_id)) return;
    reported.add(run.run_id);
    log.warn(`cancel of ${run.task_id}: the kill is pending, ${why}`, { task: run.task_id, node: run.node });
    ctx.store.tx((db) =>
      recordEvent(
        db,
        {
          kind: "cancel_kill_pending",
          source: "controller",
          task_id: run.task_id,
          run_id: run.run_id,
          node: run.node,
          data: { error: why },
        },
        ctx.now(),
      ),
    );
  }

  async function tick(): Promise<void> {
    const { runs, offline } = ctx.store.tx((db) => ({
      // A run whose start request is still in flight is killed once the node has it (next tick).
      runs: cancelRequestedRuns(db).filter((r) => !ctx.launching.has(r.run_id)),
      offline: new Set(
        listNodes(db)
          .filter((n) => !n.online)
          .map((n) => n.name),
      ),
    }));
    if (runs.length === 0) return;
    await mapLimit(runs, cfg.ssh.concurrency, async (run) => {
      const t = ctx.transports.get(run.node);
      if (!t) return pending(run, `node ${run.node} is not in the configuration`);
      if (offline.has(run.node)) return pending(run, `node ${run.node} is offline`);
      let signalled: boolean;
      try {
        const r = await withTimeout(t.kill(run.run_id), cfg.ssh.command_timeout, `kill on ${run.node}`);
        signalled = r.signalled;
      } catch (err) {
        return pending(run, `node ${run.node} did not answer: ${(err as Error).message}`);
      }
      const now = ctx.now();
      const done = ctx.store.tx((db) => {
        // The node took the kill; the run's end (run_cancelled) is finishRun's, here or from the
        // node's own report of the kill, whichever lands first.
        recordEvent(
          db,
          {
            kind: "cancel_kill_sent",
            source: "controller",
            task_id: run.task_id,
            run_id: run.run_id,
            node: run.node,
            data: { signalled },
          },
          now,
        );
        return finishRun(db, run.run_id, CANCELLED, retry, now);
      });
      reported.delete(run.run_id);
      if (!done) return;
      metrics.runsFinished.inc({ outcome: runOutcome(CANCELLED) });
      log.info(`cancelled ${run.task_id}: killed run ${run.run_id} on ${run.node}`, {
        task: run.task_id,
        run: run.run_id,
        node: run.node,
      });
      ctx.wakeScheduler();
    });
  }

  return { tick };
}
