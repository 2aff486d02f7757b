import { stringify } from "yaml";
import { admit, breakerPolicy, executorBreakerKey, nodeBreakerKey } from "../dispatch/breaker.ts";
import { decide, type Launch, type Refusal } from "../dispatch/placement.ts";
import { runTimeoutMs } from "../dispatch/timeout.ts";
import { logger } from "../log.ts";
import { metrics } from "../metrics.ts";
import { type StartRequest, TransportError } from "../remote/transport.ts";
import { getBreaker, loadBreakers, saveBreaker } from "../store/breakers.ts";
import {
  type LaunchTask,
  launchTask,
  leasedTasks,
  lockedPaths,
  nodeViews,
  readyTasks,
} from "../store/dispatch.ts";
import { pruneDispatchEvents, recordDispatch, windowStats } from "../store/dispatch-events.ts";
import { recordEvent } from "../store/events.ts";
import { storeFault } from "../store/fault.ts";
import { failPreFlight } from "../store/preflight.ts";
import { claimRun, finishRun, markRunning, type RunRow, requeueDueFailures } from "../store/runs.ts";
import { getFlag } from "../store/settings.ts";
import { announce, reportOutcome } from "./breakers.ts";
import type { ControllerContext } from "./context.ts";
import { crashPoint } from "./util.ts";

const log = logger("scheduler");

/** Ready tasks read per tick: enough to fill every free slot even when some wait on file locks. */
const READY_WINDOW = 512;
/** Old dispatch events are pruned every this many cycles (they only matter inside the window). */
const PRUNE_EVERY = 100;

/** Transport-level failures are the node's fault, not the executor's: they only count on the node. */
const NODE_LEVEL_FAILURES = new Set(["connect", "host_key", "auth", "timeout", "closed"]);

export function createScheduler(ctx: ControllerContext) {
  const cfg = ctx.config;
  const policy = breakerPolicy(cfg.breaker);
  const retry = { backoffMs: cfg.retry.backoff, maxBackoffMs: cfg.retry.max_backoff };
  let stopping = false;

  async function tick(cycle: number): Promise<void> {
    if (stopping) return;
    const now = ctx.now();
    const snap = ctx.store.tx((db) => {
      if (cycle % PRUNE_EVERY === 0) pruneDispatchEvents(db, now - cfg.dispatch.window);
      // Failed tasks whose backoff passed are ready again now, not at the reaper's next sweep.
      requeueDueFailures(db, now);
      const ready = readyTasks(db, now, READY_WINDOW);
      if (ready.length === 0) return null;
      return {
        ready,
        lockedPaths: lockedPaths(db),
        leased: leasedTasks(db),
        nodes: nodeViews(db),
        breakers: loadBreakers(db),
        drain: getFlag(db, "drain"),
        pause: getFlag(db, "pause"),
        stats: windowStats(db, now, cfg.dispatch.window),
      };
    });
    if (!snap) return;
    const decision = decide({
      now,
      ...snap,
      breakerPolicy: policy,
      minSuccessRate: cfg.dispatch.min_success_rate,
      minSamples: cfg.dispatch.min_samples,
      thresholds: cfg.resources,
      maxLaunches: cfg.dispatch.max_per_tick,
    });
    if (decision.refusals.length) recordRefusals(decision.refusals, now);
    // One event-loop turn between launches: each start does synchronous work (the spec file,
    // a spawn or a channel write), and back to back they held /health and the other loops for
    // tens of milliseconds (bench/health.ts). Launches still overlap; only their starts stagger.
    const started: Promise<void>[] = [];
    for (const l of decision.launches) {
      if (stopping) break;
      if (started.length) await new Promise((r) => setTimeout(r, 0));
      started.push(launch(l));
    }
    await Promise.all(started);
  }

  function recordRefusals(refusals: Refusal[], now: number): void {
    ctx.store.tx((db) => {
      for (const r of refusals) {
        recordDispatch(db, { kind: "refusal", success: false, ...r }, now);
        if (r.reason === "pre_flight_check_failed" && r.task_id)
          failPreFlight(db, r.task_id, r.detail ?? "", now);
        metrics.dispatches.inc({ result: "refused", reason: r.reason });
      }
    });
    log.debug(`held back: ${refusals.map((r) => r.reason + (r.detail ? ` (${r.detail})` : "")).join(", ")}`);
  }

  async function launch(l: Launch): Promise<void> {
    const transport = ctx.transports.get(l.node);
    const now = ctx.now();
    const claimed = ctx.store.tx((db) => {
      const task = launchTask(db, l.task_id);
      if (!task) return null;
      const claim = claimRun(db, l.task_id, l.node, runTimeoutMs(task, cfg.timeouts), now);
      if (!claim.ok) {
        if (claim.reason === "already_running") {
          recordDispatch(
            db,
            { kind: "refusal", success: false, reason: "already_running", task_id: l.task_id },
            now,
          );
        }
        return null;
      }
      // A HALF_OPEN breaker admits exactly one probe: mark it taken before any I/O.
      for (const key of [nodeBreakerKey(l.node), executorBreakerKey(l.executor)]) {
        const b = getBreaker(db, key);
        if (b.state !== "CLOSED") saveBreaker(db, admit(b, now, policy), now);
      }
      return { task, run: claim.run, attempt: claim.attempt };
    });
    if (!claimed) return;
    const { task, run, attempt } = claimed;
    const t0 = performance.now();
    ctx.launching.add(run.run_id);
    try {
      if (!transport) throw new TransportError(`no transport for node ${l.node}`, "closed");
      crashPoint("launch-claimed");
      const status = await transport.start(buildStartRequest(task, run, attempt, ctx));
      crashPoint("launch-started");
      const done = ctx.now();
      const transitions = ctx.store.tx((db) => {
        markRunning(
          db,
          run.run_id,
          { pid: status.pid, started_at: status.started_at, heartbeat_at: status.heartbeat_at },
          done,
        );
        // Also the task_dispatched event (recordDispatch writes it for every successful launch).
        recordDispatch(
          db,
          { kind: "launch", success: true, task_id: l.task_id, node: l.node, run_id: run.run_id, attempt },
          done,
        );
        return [
          reportOutcome(db, nodeBreakerKey(l.node), true, policy, done),
          reportOutcome(db, executorBreakerKey(l.executor), true, policy, done),
        ];
      });
      announce(transitions, ctx.notify);
      metrics.dispatches.inc({ result: "success", reason: "success" });
      log.info(
        `launched ${l.task_id} on ${l.node} (attempt ${attempt}, ${Math.round(performance.now() - t0)} ms)`,
        {
          task: l.task_id,
          run: run.run_id,
          node: l.node,
        },
      );
    } catch (err) {
      // The store failed (full disk), not the launch: the node may well run it. The run stays
      // `launching` and the reaper settles it from the node's own list once the store writes.
      if (storeFault(err)) throw err;
      const msg = err instanceof Error ? err.message : String(err);
      const kind = err instanceof TransportError ? err.kind : "command";
      const done = ctx.now();
      const transitions = ctx.store.tx((db) => {
        finishRun(
          db,
          run.run_id,
          { state: "failed", reason: "executor_failed", launchFailed: true },
          retry,
          done,
        );
        recordDispatch(
          db,
          { kind: "launch", success: false, reason: "executor_failed", task_id: l.task_id, node: l.node },
          done,
        );
        recordEvent(
          db,
          {
            kind: "launch_failed",
            source: "scheduler",
            task_id: l.task_id,
            run_id: run.run_id,
            node: l.node,
            data: { error: msg },
          },
          done,
        );
        const out = [reportOutcome(db, nodeBreakerKey(l.node), false, policy, done)];
        if (!NODE_LEVEL_FAILURES.has(kind))
          out.push(reportOutcome(db, executorBreakerKey(l.executor), false, policy, done));
        return out;
      });
      announce(transitions, ctx.notify);
      metrics.dispatches.inc({ result: "failed", reason: "executor_failed" });
      log.warn(`launch of ${l.task_id} on ${l.node} failed: ${msg}`, { task: l.task_id, node: l.node });
    } finally {
      ctx.launching.delete(run.run_id);
    }
  }

  return {
    tick,
    /** Stop launching: the current tick finishes what it claimed, no new tick starts work. */
    stop() {
      stopping = true;
    },
  };
}

export function buildStartRequest(
  task: LaunchTask,
  run: RunRow,
  attempt: number,
  ctx: ControllerContext,
): StartRequest {
  const executor = ctx.config.executors[task.executor];
  if (!executor) throw new TransportError(`executor "${task.executor}" is not configured`, "command");
  const vars: Record<string, string> = {
    task_id: task.task_id,
    run_id: run.run_id,
    project: task.project,
    attempt: String(attempt),
    priority: String(task.priority),
    command: task.command ?? "",
  };
  return {
    run_id: run.run_id,
    task_id: task.task_id,
    spec: specText(task),
    argv: executor.command,
    vars,
    env: {
      OYSTER_TASK_ID: task.task_id,
      OYSTER_RUN_ID: run.run_id,
      OYSTER_ATTEMPT: String(attempt),
      OYSTER_PROJECT: task.project,
    },
  };
}

/** The spec as the agent on the node reads it: front matter plus body, like the submitted file. */
export function specText(task: LaunchTask): string {
  const fm: Record<string, unknown> = {
    task_id: task.task_id,
    project: task.project,
    priority: task.priority,
    estimated_minutes: task.estimated_minutes ?? undefined,
    depends_on: task.depends_on,
    modifies: task.modifies,
    executor: task.executor,
    command: task.command ?? undefined,
  };
  return `---\n${stringify(fm).trimEnd()}\n---\n${task.body}`;
}
