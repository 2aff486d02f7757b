import { stringify } from "yaml";
import type { Config } from "../config/schema.ts";
import { admit, breakerPolicy } from "../dispatch/breaker.ts";
import {
  type Classification,
  classifyLaunchFailure,
  type FailureKind,
  launchBreakers,
  launchFailureCharge,
  nextLaunchStep,
} from "../dispatch/launch.ts";
import { decide, type Launch, type Refusal } from "../dispatch/placement.ts";
import { retryPolicyOf } from "../dispatch/run-end.ts";
import { runTimeoutMs } from "../dispatch/timeout.ts";
import { logger } from "../log.ts";
import { metrics } from "../metrics.ts";
import { withTimeout } from "../os/deadline.ts";
import type { RunStatus, StartRequest } from "../protocol/messages.ts";
import { type Transport, TransportError } from "../remote/transport.ts";
import { getBreaker, saveBreaker } from "../store/breakers.ts";
import type { Store } from "../store/db.ts";
import { type LaunchTask, launchTask, readyTasks } from "../store/dispatch.ts";
import { pruneDispatchEvents, recordDispatch } from "../store/dispatch-events.ts";
import { recordEvent } from "../store/events.ts";
import { placementFacts } from "../store/placement-facts.ts";
import { failPreFlight } from "../store/preflight.ts";
import { claimRun, finishRun, markRunning, type RunRow, requeueDueFailures } from "../store/runs.ts";
import { announce, reportOutcome } from "./breakers.ts";
import type { TransportLookup } from "./context.ts";
import { crashPoint } from "./test-hooks.ts";

const log = logger("scheduler");

/** Ready tasks read per tick: enough to fill every free slot even when some wait on file locks. */
const READY_WINDOW = 512;
/** Old dispatch events are pruned every this many cycles (they only matter inside the window). */
const PRUNE_EVERY = 100;

/**
 * A launch's deadline, in command timeouts: the first start plus one retry with the same run id
 * when the first answer was lost. Past it the run stays `launching` for the reaper to resolve.
 */
const LAUNCH_DEADLINE_TIMEOUTS = 2;
/** Pause before re-sending a start whose answer was lost, so a dropped channel is not hammered. */
const START_RETRY_PAUSE_MS = 200;

/** What the scheduler uses: the store, each node's transport, the clock, and whom to tell. */
export interface SchedulerDeps {
  store: Store;
  config: Pick<
    Config,
    "breaker" | "retry" | "dispatch" | "ssh" | "timeouts" | "executors" | "pools" | "resources"
  >;
  transports: TransportLookup;
  now: () => number;
  notify: (payload: Record<string, unknown>) => void;
  /** Written while a start is in flight, so the reaper and the canceller leave the run alone. */
  launching: Set<string>;
}

type StartOutcome =
  | { ok: true; status: RunStatus; tries: number }
  | { ok: false; error: string; cls: Classification; unresolved: boolean; tries: number };

export function createScheduler(ctx: SchedulerDeps) {
  const cfg = ctx.config;
  const policy = breakerPolicy(cfg.breaker);
  const facts = { ...cfg, breakerPolicy: policy };
  const retry = retryPolicyOf(cfg.retry);
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
      // The same facts `oyster tasks` explains waiting tasks from (src/store/placement-facts.ts).
      return { ready, ...placementFacts(db, now, facts) };
    });
    if (!snap) return;
    const decision = decide({ ...snap, maxLaunches: cfg.dispatch.max_per_tick });
    if (decision.refusals.length) recordRefusals(decision.refusals, now);
    // One event-loop turn between launches: each start does synchronous work (the spec file,
    // a spawn or a channel write), and back to back they held /health and the other loops for
    // tens of milliseconds (bench/health.ts). Launches still overlap; only their starts stagger.
    // The tick does not wait for the launches: each has its own deadline, so one slow node
    // holds neither the other launches nor the loop's heartbeat. A launch's claim is
    // synchronous, so the next tick already sees its run, lease and locks.
    let first = true;
    for (const l of decision.launches) {
      if (stopping) break;
      if (!first) await new Promise((r) => setTimeout(r, 0));
      first = false;
      track(launch(l));
    }
  }

  /** Launches still waiting on a node; `stop()` hands them to the controller's shutdown. */
  const inFlight = new Set<Promise<void>>();
  function track(p: Promise<void>): void {
    const guarded = p
      .catch((err: unknown) => {
        // Only the store can fail here (a launch handles every node error itself); the run stays
        // `launching` and the reaper resolves it by asking the node.
        log.error(`launch bookkeeping failed: ${err instanceof Error ? err.message : String(err)}`);
      })
      .finally(() => inFlight.delete(guarded));
    inFlight.add(guarded);
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
      for (const key of launchBreakers(l)) {
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
      crashPoint("launch-claimed");
      const out = await startResolved(l.node, transport, () => buildStartRequest(task, run, attempt, ctx));
      if (out.ok) {
        crashPoint("launch-started");
        launched(l, run.run_id, out.status, attempt, t0, out.tries);
      } else failed(l, run.run_id, out);
    } finally {
      ctx.launching.delete(run.run_id);
    }
  }

  /**
   * Send the start; when the answer is lost, send the same run id again (the node answers a
   * repeated start with the run's status, src/node/start.ts) until the launch's deadline.
   */
  async function startResolved(
    node: string,
    transport: Transport | undefined,
    build: () => StartRequest,
  ): Promise<StartOutcome> {
    const deadline = ctx.now() + LAUNCH_DEADLINE_TIMEOUTS * cfg.ssh.command_timeout;
    let req: StartRequest;
    try {
      if (!transport) throw new TransportError(`no transport for node ${node}`, "closed");
      req = build();
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      const kind: FailureKind = err instanceof TransportError && !transport ? "connect" : "local";
      return {
        ok: false,
        error,
        cls: classifyLaunchFailure({ kind, message: error }),
        unresolved: false,
        tries: 0,
      };
    }
    let timeoutMs = cfg.ssh.command_timeout;
    let maybeStarted = false;
    for (let tries = 1; ; tries++) {
      try {
        const status = await withTimeout(transport.start(req), timeoutMs, `start of run ${req.run_id}`);
        return { ok: true, status, tries };
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        const kind: FailureKind =
          err instanceof TransportError
            ? err.kind
            : err instanceof Error && err.name === "TimeoutError"
              ? "timeout"
              : "command";
        const cls = classifyLaunchFailure({ kind, message: error });
        const step = nextLaunchStep(cls, tries, deadline - ctx.now(), maybeStarted);
        maybeStarted ||= cls.maybeStarted;
        if (step.kind !== "retry" || stopping)
          return { ok: false, error, cls, unresolved: step.kind !== "requeue", tries };
        log.warn(
          `start of run ${req.run_id} on ${transport.node}: ${error}; asking again with the same run id`,
          {
            run: req.run_id,
            node: transport.node,
          },
        );
        await new Promise((r) => setTimeout(r, START_RETRY_PAUSE_MS));
        timeoutMs = Math.max(1, Math.min(cfg.ssh.command_timeout, deadline - ctx.now()));
      }
    }
  }

  function launched(
    l: Launch,
    runId: string,
    status: RunStatus,
    attempt: number,
    t0: number,
    tries: number,
  ): void {
    const done = ctx.now();
    const transitions = ctx.store.tx((db) => {
      markRunning(
        db,
        runId,
        { pid: status.pid, started_at: status.started_at, heartbeat_at: status.heartbeat_at },
        done,
      );
      // Also the task_dispatched event (recordDispatch writes it for every successful launch).
      recordDispatch(
        db,
        { kind: "launch", success: true, task_id: l.task_id, node: l.node, run_id: runId, attempt },
        done,
      );
      return launchBreakers(l).map((key) => reportOutcome(db, key, true, policy, done));
    });
    announce(transitions, ctx.notify);
    metrics.dispatches.inc({ result: "success", reason: "success" });
    log.info(
      `launched ${l.task_id} on ${l.node} (attempt ${attempt}, ${Math.round(performance.now() - t0)} ms${tries > 1 ? `, confirmed on start ${tries}` : ""})`,
      { task: l.task_id, run: runId, node: l.node },
    );
  }

  /**
   * A start that failed. Nothing can be running → requeue without an attempt. The node may be
   * running it → the run stays `launching` with its lease and locks: the reaper asks the node
   * (`list`) and either folds in the run's status or, once the node has had `command_timeout` to
   * show it, calls it a ghost. Either way it is never relaunched under a new run id meanwhile.
   * Only failures the executor causes count on the fleet-wide executor breaker.
   */
  function failed(l: Launch, runId: string, out: Extract<StartOutcome, { ok: false }>): void {
    const done = ctx.now();
    const { reason, breaker } = launchFailureCharge(out.cls.blame, l);
    const transitions = ctx.store.tx((db) => {
      if (!out.unresolved) finishRun(db, runId, { state: "failed", reason, launchFailed: true }, retry, done);
      recordDispatch(db, { kind: "launch", success: false, reason, task_id: l.task_id, node: l.node }, done);
      recordEvent(
        db,
        {
          kind: out.unresolved ? "launch_unresolved" : "launch_failed",
          source: "scheduler",
          task_id: l.task_id,
          run_id: runId,
          node: l.node,
          data: { error: out.error, blame: out.cls.blame, tries: out.tries },
        },
        done,
      );
      return [reportOutcome(db, breaker, false, policy, done)];
    });
    announce(transitions, ctx.notify);
    metrics.dispatches.inc({ result: "failed", reason });
    if (out.unresolved)
      log.warn(
        `start of ${l.task_id} on ${l.node} unanswered after ${out.tries} tries (${out.error}): run ${runId} stays launching until the node is asked`,
        { task: l.task_id, run: runId, node: l.node },
      );
    else
      log.warn(`launch of ${l.task_id} on ${l.node} failed (${out.cls.blame}): ${out.error}`, {
        task: l.task_id,
        node: l.node,
      });
  }

  return {
    tick,
    /**
     * Stop launching: no new tick starts work, and launches already sent make no new start
     * retries. Resolves when the launches in flight have settled.
     */
    stop(): Promise<void> {
      stopping = true;
      return Promise.all([...inFlight]).then(() => undefined);
    },
  };
}

export function buildStartRequest(
  task: LaunchTask,
  run: RunRow,
  attempt: number,
  ctx: { config: Pick<Config, "executors"> },
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
