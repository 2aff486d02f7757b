import type { Config } from "../config/schema.ts";
import { type KillCheck, lostRunStep, nodeDeclaredDead } from "../dispatch/launch.ts";
import { findOrphans, type NodeRun, reconcileNode } from "../dispatch/reconcile.ts";
import { type RunEnd, retryPolicyOf, runOutcome } from "../dispatch/run-end.ts";
import { FINAL_NODE_RUN_STATES, isIn } from "../dispatch/states.ts";
import { logger } from "../log.ts";
import { metrics } from "../metrics.ts";
import { withTimeout } from "../os/deadline.ts";
import type { KillReport, RunStatus } from "../protocol/messages.ts";
import type { Transport } from "../remote/transport.ts";
import type { Store } from "../store/db.ts";
import { recordEvent } from "../store/events.ts";
import {
  activeRunsWithTask,
  cleanupStaleClaims,
  requeueOrphanedTasks,
  syncRunningCounts,
} from "../store/healing.ts";
import { listNodes, setNodeOnline } from "../store/nodes.ts";
import { activeRunsOnOfflineNodes, finishRun, getRun, requeueDueFailures } from "../store/runs.ts";
import type { TransportLookup } from "./context.ts";
import { onMultipleOf } from "./cycles.ts";
import { mapLimit } from "./map-limit.ts";
import { createRetention } from "./retention.ts";
import { applyRunStatus } from "./run-status.ts";
import { crashPoint } from "./test-hooks.ts";

const log = logger("reaper");

/** seeds/002: orphan processes on cycles 10, 20, …; offline nodes on cycles 5, 10, …. */
export const ORPHAN_EVERY = 10;
export const RECOVER_EVERY = 5;

/** What the reaper uses: the store, each node's transport, the clock, and the scheduler's bell. */
export interface ReaperDeps {
  store: Store;
  config: Pick<Config, "ssh" | "retry" | "retention">;
  transports: TransportLookup;
  now: () => number;
  /** Runs whose start is in flight: not ghosts just because the node does not list them yet. */
  launching: ReadonlySet<string>;
  wakeScheduler: () => void;
}

export interface ReaperOptions {
  /** Probe these nodes now (the probe loop's function); brings answering nodes back online. */
  probeNodes: (names: string[]) => Promise<void>;
}

/**
 * The reaper: one `list` per node per cycle, all nodes at once (bounded, with a timeout), folded
 * into the store — ghosts become lost, stuck runs fail with `timeout` and are killed, ends the
 * push missed are recorded. Then store hygiene: due retries, stale leases and locks, running
 * counts from the truth. Every store write is its own short transaction between node calls.
 */
export function createReaper(ctx: ReaperDeps, opts: ReaperOptions) {
  const cfg = ctx.config;
  const retry = retryPolicyOf(cfg.retry);
  const retention = createRetention(ctx);

  async function sweepNode(node: string, orphans: boolean): Promise<void> {
    const t = ctx.transports.get(node);
    if (!t) return;
    // Candidates are fixed before the node is asked: a run launched after the list was taken is
    // absent from it without being a ghost.
    const candidates = ctx.store
      .tx((db) => activeRunsWithTask(db, node))
      .filter((r) => !ctx.launching.has(r.run_id));
    let listed: RunStatus[];
    try {
      // Only what the decisions below read: runs not yet over (orphans) and the candidates.
      const filter = { active: true, runs: candidates.map((r) => r.run_id) };
      listed = await withTimeout(t.list(filter), cfg.ssh.command_timeout, `list on ${node}`);
      crashPoint("reap-listed");
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      ctx.store.tx((db) => setNodeOnline(db, node, false, msg, ctx.now()));
      log.warn(`node ${node}: cannot list runs (${msg}); its runs stay as they are until it answers`, {
        node,
      });
      return;
    }
    const byId = new Map(listed.map((s) => [s.run_id, s]));
    const now = ctx.now();
    const timed = onOneClock(listed, node);
    for (const action of reconcileNode(candidates, timed, now, cfg.ssh.command_timeout)) {
      if (action.kind === "apply") {
        const seen = byId.get(action.run_id)!;
        applyRunStatus(ctx, node, seen);
        // Lost: the wrapper died, but the executor's process group may live on.
        if (seen.state === "lost") await settleLost(node, t, seen);
      } else if (action.kind === "ghost") {
        if (!(await abandoned(node, t, action.run_id))) continue;
        const group = await ghostGroupGone(node, t, action.run_id);
        if (!group.gone) continue;
        const done = ending(action.run_id, { state: "lost", reason: "lost" }, "run_ghost", node, {
          why: "the node does not know this run",
          ...(group.note ? { group: group.note } : {}),
        });
        if (done) log.warn(`run ${action.run_id} of ${action.task_id} is a ghost on ${node}: lost`, { node });
      } else if (action.kind === "stuck") {
        const done = ending(action.run_id, { state: "failed", reason: "timeout" }, "run_timeout", node, {
          elapsed_ms: action.elapsed_ms,
          timeout_ms: action.timeout_ms,
        });
        if (done) {
          log.warn(
            `run ${action.run_id} of ${action.task_id} on ${node} passed its timeout (${Math.round(action.timeout_ms / 1000)} s): killing it`,
            { node },
          );
          await kill(node, action.run_id);
        }
      } else {
        // A cancelled run the node does not show may still have a start on the way: fence it
        // off first, or that start would run the cancelled task.
        if (!byId.has(action.run_id) && !(await abandoned(node, t, action.run_id))) continue;
        ending(action.run_id, { state: "cancelled", reason: "cancelled" }, "run_cancelled", node, {});
        await kill(node, action.run_id);
      }
    }
    if (orphans) {
      // Only runs this node was given: a status.json planted on this node under another node's
      // run id must not make us kill anything in that run's name.
      const states = ctx.store.tx((db) => {
        const out = new Map<string, string>();
        for (const s of listed) {
          const run = getRun(db, s.run_id);
          if (run?.node === node) out.set(s.run_id, run.state);
        }
        return out;
      });
      for (const id of findOrphans(listed as NodeRun[], (runId) => states.get(runId) ?? null)) {
        log.warn(`run ${id} is still alive on ${node} though it is over: killing the orphan`, { node });
        const res = await kill(node, id);
        if (res?.signalled)
          ctx.store.tx((db) =>
            recordEvent(db, { kind: "orphan_killed", source: "reaper", run_id: id, node }, ctx.now()),
          );
        else if (res)
          log.warn(`orphan run ${id} on ${node} was not signalled: ${res.note ?? "no live process group"}`, {
            node,
            run: id,
          });
      }
    }
  }

  /**
   * A lost run ends only once its process group is gone: kill it, then verify. Until then the
   * run keeps its lease and `modifies` locks, so its task cannot start elsewhere while the old
   * executor still works on the same files; the next sweep tries again.
   */
  async function settleLost(node: string, t: Transport, seen: RunStatus): Promise<void> {
    let check: KillCheck = "unknown";
    let why = "";
    const pid = ctx.store.tx((db) => getRun(db, seen.run_id)?.pid ?? null) ?? seen.pid;
    try {
      await t.kill(seen.run_id);
      // The proof is the process table: no process of the run left in its recorded group.
      const verified = pid !== null && t.killGroup ? await verifyGroup(t, seen.run_id, pid) : null;
      if (verified) {
        check = verified.gone ? "gone" : "still_lost";
        why = verified.note;
      } else {
        // A node without kill_group: its own record. killRun writes `killed` once the group was
        // signalled and the wrapper is gone; `lost` again means it could not.
        const after = (await withTimeout(t.list(), cfg.ssh.command_timeout, `list on ${node}`)).find(
          (r) => r.run_id === seen.run_id,
        );
        check = !after
          ? "unknown"
          : after.state === "lost"
            ? "still_lost"
            : isIn(FINAL_NODE_RUN_STATES, after.state)
              ? "gone"
              : "unknown";
        why = after ? `the node reports it ${after.state}` : "the node no longer lists it";
      }
    } catch (err) {
      why = (err as Error).message;
    }
    if (lostRunStep(check) === "release") {
      const done = ending(seen.run_id, { state: "lost", reason: "lost" }, "lost_run_killed", node, {
        why: "its wrapper died; the executor's group was killed",
        pid: seen.pid,
      });
      if (done)
        log.warn(`run ${seen.run_id} on ${node} was lost; its process group is killed, task requeued`, {
          node,
        });
    } else {
      log.warn(
        `run ${seen.run_id} on ${node} is lost and not confirmed killed (${why}): its task and locks stay held`,
        {
          node,
        },
      );
    }
  }

  /** killGroup, or null when the node's binary predates it. */
  async function verifyGroup(
    t: Transport,
    runId: string,
    pid: number,
  ): Promise<{ gone: boolean; note: string } | null> {
    try {
      return await t.killGroup!(runId, pid);
    } catch (err) {
      if (/unknown (op|command)/i.test((err as Error).message)) return null;
      throw err;
    }
  }

  /**
   * Fence a run the node does not show (a ghost, or a cancelled run never seen there) off on
   * its node before its task may run again or counts as stopped: a start request of it still on
   * the way (a stalled channel) is then refused when it arrives, instead of running the task a
   * second time. False keeps the run as it is until a later cycle: the node could not be asked,
   * or the run turned up there after all.
   */
  async function abandoned(node: string, t: Transport, runId: string): Promise<boolean> {
    if (!t.abandon) return true;
    try {
      const r = await withTimeout(t.abandon(runId), cfg.ssh.command_timeout, `abandon on ${node}`);
      if (!r.abandoned)
        log.info(`run ${runId} turned up on ${node} (${r.note}): not a ghost`, { run: runId, node });
      return r.abandoned;
    } catch (err) {
      const msg = (err as Error).message;
      // A node binary from before abandon cannot fence: the old behaviour (the orphan sweep).
      if (/unknown (op|command)/i.test(msg)) return true;
      log.warn(`run ${runId} on ${node}: cannot fence it off (${msg}); its task stays held`, {
        run: runId,
        node,
      });
      return false;
    }
  }

  /**
   * A run the node no longer knows (run dir deleted, status unreadable) may still have its
   * executor running. When the store recorded its process group, the node kills what is left of
   * it (only processes carrying the run's id) before the run ends and its task and locks go free.
   */
  async function ghostGroupGone(
    node: string,
    t: Transport,
    runId: string,
  ): Promise<{ gone: boolean; note?: string }> {
    const pid = ctx.store.tx((db) => getRun(db, runId)?.pid ?? null);
    if (pid === null || !t.killGroup) return { gone: true };
    try {
      const r = await t.killGroup(runId, pid);
      if (!r.gone)
        log.warn(
          `run ${runId} on ${node} is gone from the node but its group is not (${r.note}): task and locks stay held`,
          {
            node,
          },
        );
      return r;
    } catch (err) {
      const msg = (err as Error).message;
      // A node binary from before kill_group cannot do better than the old behaviour.
      if (/unknown (op|command)/i.test(msg)) return { gone: true, note: `not checked: ${msg}` };
      log.warn(`run ${runId} on ${node}: cannot kill its group ${pid} (${msg}): task and locks stay held`, {
        node,
      });
      return { gone: false };
    }
  }

  /**
   * Runs on a node that has not answered for `retry.lost_node_grace` are lost by policy: the
   * node is declared dead, and its tasks may run elsewhere even though they may still run there.
   */
  function declareDeadNodes(): void {
    const grace = cfg.retry.lost_node_grace;
    if (grace <= 0) return;
    const now = ctx.now();
    const runs = ctx.store.tx((db) => activeRunsOnOfflineNodes(db));
    for (const r of runs) {
      if (!nodeDeclaredDead(r.last_seen_at, r.created_at, now, grace)) continue;
      const done = ending(r.run_id, { state: "lost", reason: "lost" }, "run_node_dead", r.node, {
        why: `node ${r.node} has not answered for ${Math.round(grace / 1000)} s (retry.lost_node_grace)`,
      });
      if (done)
        log.warn(`run ${r.run_id} of ${r.task_id}: node ${r.node} declared dead by policy; run lost`, {
          node: r.node,
        });
    }
  }

  /** finishRun in its own transaction; true when this call was the one that ended the run. */
  function ending(
    runId: string,
    end: Pick<RunEnd, "state" | "reason">,
    event: string,
    node: string,
    data: Record<string, unknown>,
  ): boolean {
    const now = ctx.now();
    const done = ctx.store.tx((db) => {
      const r = finishRun(db, runId, end, retry, now);
      if (r)
        recordEvent(
          db,
          { kind: event, source: "reaper", run_id: runId, task_id: r.task_id, node, data },
          now,
        );
      return r;
    });
    if (done) {
      metrics.runsFinished.inc({ outcome: runOutcome(end) });
      ctx.wakeScheduler();
    }
    return done !== null;
  }

  /** The node's answer, or null when it could not be asked (logged; the orphan sweep retries). */
  async function kill(node: string, runId: string): Promise<KillReport | null> {
    const t = ctx.transports.get(node);
    if (!t) return null;
    try {
      return await t.kill(runId);
    } catch (err) {
      // The run is already recorded as over; the orphan sweep tries again.
      log.warn(`could not kill run ${runId} on ${node}: ${(err as Error).message}`, { node });
      return null;
    }
  }

  /**
   * Monotonic instant each live run was first listed, per node. A run's elapsed time is the
   * larger of what its wrapper measured on the node's monotonic clock (`elapsed_ms`: covers the
   * time before we first saw it, e.g. across a controller restart) and our own monotonic time
   * since we first saw it (covers a wrapper too old to report, or frozen and no longer
   * heartbeating). Both only ever undercount, so neither kills early; neither is our wall clock
   * minus the node's.
   */
  const firstSeen = new Map<string, Map<string, number>>();
  function onOneClock(listed: RunStatus[], node: string): NodeRun[] {
    const mono = performance.now();
    const prev = firstSeen.get(node) ?? new Map<string, number>();
    const next = new Map<string, number>();
    const out = listed.map((s): NodeRun => {
      if (s.state !== "running" && s.state !== "starting") return s as NodeRun;
      const since = prev.get(s.run_id) ?? mono;
      next.set(s.run_id, since);
      const reported = typeof s.elapsed_ms === "number" && Number.isFinite(s.elapsed_ms) ? s.elapsed_ms : 0;
      return { ...(s as NodeRun), elapsed_ms: Math.max(reported, Math.round(mono - since)) };
    });
    firstSeen.set(node, next);
    return out;
  }

  async function tick(cycle: number): Promise<void> {
    const nodes = ctx.store.tx((db) => listNodes(db));
    const known = nodes.filter((n) => ctx.transports.get(n.name) !== undefined);
    const online = known.filter((n) => n.online).map((n) => n.name);
    const offline = known.filter((n) => !n.online).map((n) => n.name);
    if (onMultipleOf(cycle, RECOVER_EVERY) && offline.length) await opts.probeNodes(offline);
    await mapLimit(online, cfg.ssh.concurrency, (n) => sweepNode(n, onMultipleOf(cycle, ORPHAN_EVERY)));
    declareDeadNodes();
    await retention.maybeSweep(online);
    const now = ctx.now();
    const fixed = ctx.store.tx((db) => {
      const requeued = requeueDueFailures(db, now);
      const stale = cleanupStaleClaims(db);
      const orphaned = requeueOrphanedTasks(db, now);
      const counts = syncRunningCounts(db);
      return { requeued, ...stale, orphaned, counts };
    });
    if (fixed.leases || fixed.locks || fixed.orphaned.length)
      log.info(
        `cleaned up ${fixed.leases} stale lease(s), ${fixed.locks} stale lock(s), requeued ${fixed.orphaned.length} task(s) without a run`,
      );
    if (fixed.requeued || fixed.leases || fixed.locks || fixed.orphaned.length) ctx.wakeScheduler();
  }

  return {
    tick,
    /**
     * One node's list+apply now, outside the cycle: a session that reconnected is caught up at
     * once instead of when the node is next probed back online. Never throws.
     */
    catchUp: (node: string): Promise<void> =>
      sweepNode(node, false).catch((err: unknown) =>
        log.warn(`node ${node}: catch-up after reconnect failed: ${(err as Error).message}`, { node }),
      ),
  };
}
