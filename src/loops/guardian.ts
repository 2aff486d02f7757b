import type { Config } from "../config/schema.ts";
import { RECOVERABLE_REASONS } from "../dispatch/reasons.ts";
import { overdue } from "../dispatch/reconcile.ts";
import { logger } from "../log.ts";
import { withTimeout } from "../os/deadline.ts";
import { installBinary } from "../remote/install.ts";
import type { Store } from "../store/db.ts";
import { recordEvent } from "../store/events.ts";
import {
  blockHopelessTasks,
  markAlerted,
  missingDependencies,
  reviveDeadTasks,
  unalertedRunsLaunchedBefore,
  unblockTasks,
} from "../store/healing.ts";
import { VERSION_STRING } from "../version.ts";
import type { TransportList } from "./context.ts";
import { everyNth } from "./cycles.ts";
import { mapLimit } from "./map-limit.ts";

const log = logger("guardian");

/** seeds/002: wrapper version and SSH checks every 10 guardian cycles. */
export const NODE_CHECK_EVERY = 10;

/** Reasons a dead task is revived for (retry.auto_revive); `run --until-done` waits for those. */
export const RECOVERABLE = RECOVERABLE_REASONS;

/** What the guardian uses: the store, every node's transport, the clock, whom to tell. */
export interface GuardianDeps {
  store: Store;
  config: Pick<Config, "timeouts" | "retry" | "ssh" | "nodes">;
  transports: TransportList;
  now: () => number;
  notify: (payload: Record<string, unknown>) => void;
  wakeScheduler: () => void;
}

/**
 * The guardian watches for what does not heal by itself: runs far too long (alert once),
 * dependency chains that can never finish (blocked, naming the culprit), dead tasks whose
 * failure was the fleet's fault (one more try), and nodes running another oyster or unreachable.
 */
export function createGuardian(ctx: GuardianDeps) {
  const cfg = ctx.config;
  /** Missing dependencies are reported once per task per process, not every cycle. */
  const reportedMissing = new Set<string>();

  function watchTasks(): void {
    const now = ctx.now();
    const r = ctx.store.tx((db) => {
      const alerts = overdue(
        unalertedRunsLaunchedBefore(db, now - cfg.timeouts.long_running),
        cfg.timeouts.long_running,
        now,
      );
      for (const run of alerts) {
        markAlerted(db, run.run_id, now);
        recordEvent(
          db,
          {
            kind: "run_long_running",
            source: "guardian",
            run_id: run.run_id,
            task_id: run.task_id,
            node: run.node,
            data: { running_s: Math.round((now - run.created_at) / 1000) },
          },
          now,
        );
      }
      // Revive before blocking, so a revived dependency unblocks its dependents in the same cycle.
      const revived = reviveDeadTasks(db, RECOVERABLE, cfg.retry.auto_revive, now);
      const unblocked = unblockTasks(db, now);
      const blocked = blockHopelessTasks(db, now);
      const missing = missingDependencies(db).filter(
        (m) => !reportedMissing.has(`${m.task_id}\0${m.depends_on}`),
      );
      for (const m of missing) {
        reportedMissing.add(`${m.task_id}\0${m.depends_on}`);
        recordEvent(
          db,
          {
            kind: "dependency_missing",
            source: "guardian",
            task_id: m.task_id,
            data: { depends_on: m.depends_on },
          },
          now,
        );
      }
      return { alerts, revived, unblocked, blocked, missing };
    });
    for (const a of r.alerts) {
      const hours = ((now - a.created_at) / 3_600_000).toFixed(1);
      log.warn(`run ${a.run_id} of ${a.task_id} on ${a.node} has been running for ${hours} h`, {
        run: a.run_id,
        task: a.task_id,
        node: a.node,
      });
      ctx.notify({
        kind: "run_long_running",
        run_id: a.run_id,
        task_id: a.task_id,
        node: a.node,
        started_at: a.started_at,
      });
    }
    for (const id of r.revived)
      log.info(`task ${id} died of a recoverable failure: one more attempt`, { task: id });
    for (const id of r.unblocked) log.info(`task ${id} is no longer blocked`, { task: id });
    for (const b of r.blocked)
      log.warn(`task ${b.task_id} is blocked: its dependency ${b.blocked_by} will not succeed`, {
        task: b.task_id,
      });
    for (const m of r.missing)
      log.warn(`task ${m.task_id} waits on ${m.depends_on}, which no one has submitted`, {
        task: m.task_id,
      });
    if (r.revived.length || r.unblocked.length) ctx.wakeScheduler();
  }

  /** Version and SSH check of every node; auto_upgrade nodes get this binary. */
  async function checkNodes(): Promise<void> {
    await mapLimit([...ctx.transports.keys()], cfg.ssh.concurrency, async (name) => {
      const t = ctx.transports.get(name);
      if (!t) return;
      const node = cfg.nodes.find((n) => n.name === name);
      let version: string;
      try {
        version = await withTimeout(t.version(), cfg.ssh.command_timeout, `version check of ${name}`);
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err);
        log.warn(`node ${name} failed its connection check: ${msg}`, { node: name });
        ctx.store.tx((db) =>
          recordEvent(
            db,
            { kind: "node_check_failed", source: "guardian", node: name, data: { error: msg } },
            ctx.now(),
          ),
        );
        return;
      }
      if (version === VERSION_STRING) return;
      log.warn(`node ${name} runs ${version}, the controller is ${VERSION_STRING}`, { node: name });
      ctx.store.tx((db) =>
        recordEvent(
          db,
          {
            kind: "version_mismatch",
            source: "guardian",
            node: name,
            data: { node_version: version, controller_version: VERSION_STRING },
          },
          ctx.now(),
        ),
      );
      if (!node?.auto_upgrade) return;
      const res = await installBinary(t);
      if (res.ok) log.info(`node ${name} upgraded to ${res.version}`, { node: name });
      else log.error(`auto_upgrade of node ${name} failed: ${res.error}`, { node: name });
    });
  }

  return {
    async tick(cycle: number): Promise<void> {
      watchTasks();
      if (everyNth(cycle, NODE_CHECK_EVERY)) await checkNodes();
    },
  };
}
