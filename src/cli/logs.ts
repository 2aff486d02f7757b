import { defineCommand } from "citty";
import { parseDuration } from "../config/duration.ts";
import { FINAL_TASK_STATUSES, isIn } from "../dispatch/states.ts";
import { sleep } from "../os/deadline.ts";
import { transportForNode } from "../output/node-reader.ts";
import { exitStatusOf, OutputMissingError, pickRun, streamOutput } from "../output/output.ts";
import { SafeTextDecoder } from "../output/safe-bytes.ts";
import type { RunRow } from "../store/runs.ts";
import { getTask } from "../store/tasks.ts";
import { terminalSafe } from "../terminal-safe.ts";
import { sharedArgs, withExamples } from "./common-args.ts";
import { readStore } from "./config-and-store.ts";
import { CliError, usageError } from "./errors.ts";

/**
 * `oyster logs TASK`: a run's output, read from its node over SSH (or in place for a local node)
 * with the config's node definitions, so it needs no controller and follows across its restarts.
 */
export default withExamples(
  defineCommand({
    meta: { name: "logs", description: "Show (or follow) the output of a task's run" },
    args: {
      ...sharedArgs,
      id: { type: "positional", required: true, description: "Task id" },
      run: { type: "string", description: "This run id instead of the latest" },
      attempt: { type: "string", description: "This attempt (1, 2, …) instead of the latest" },
      follow: { type: "boolean", alias: "f", description: "Follow until the run ends; exit with its status" },
      lines: { type: "string", alias: "n", description: "Only the last N lines" },
      since: {
        type: "string",
        description: "Every run of the task started within this (e.g. 1h), oldest first",
      },
      raw: { type: "boolean", description: "Bytes exactly as written (no escaping of control characters)" },
    },
    async run({ args }) {
      const opts = parseArgs(args);
      const read = () =>
        readStore(args, (store, loaded) => {
          const t = getTask(store.db, String(args.id));
          if (!t) throw new CliError(`no task named "${terminalSafe(String(args.id))}"`);
          return { task: t, config: loaded.config };
        });
      let { task, config } = await read();
      // `logs -f` right after `submit`: wait for the first run, as `tail -F` waits for its file.
      if (opts.follow && task.runs.length === 0 && !opts.run && !opts.attempt && !opts.sinceMs) {
        const waited = await waitForFirstRun(task, read);
        if (waited === null) {
          process.exitCode = 130;
          return;
        }
        ({ task, config } = waited);
      }
      const runs = selectRuns(task.task_id, task.runs, opts);
      let status = 0;
      for (const [i, run] of runs.entries()) {
        if (runs.length > 1)
          await write(
            `${i ? "\n" : ""}== run ${run.run_id} (attempt ${run.attempt} on ${run.node}, ${run.state}) ==\n`,
          );
        const last = i === runs.length - 1;
        status = await show(config, run, { ...opts, follow: opts.follow && last });
      }
      if (opts.follow) process.exitCode = status;
    },
  }),
  [
    "oyster logs S04-health-endpoints",
    "oyster logs S04-health-endpoints -n 50",
    "oyster logs S04-health-endpoints -f",
    "oyster logs S04-health-endpoints --attempt 1",
    "oyster logs S04-health-endpoints --since 2h",
  ],
);

interface LogsOptions {
  run?: string;
  attempt?: number;
  follow: boolean;
  lines?: number;
  sinceMs?: number;
  raw: boolean;
}

function parseArgs(args: Record<string, unknown>): LogsOptions {
  const int = (v: unknown, name: string, min: number) => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(String(v)) || Number(v) < min)
      throw usageError(`--${name}: expected an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  let sinceMs: number | undefined;
  if (args.since !== undefined) {
    const d = parseDuration(String(args.since));
    if (d === null)
      throw usageError(`--since: expected a duration like 30m or 2h, got ${JSON.stringify(args.since)}`);
    sinceMs = d;
  }
  const picked = [args.run, args.attempt, args.since].filter((v) => v !== undefined).length;
  if (picked > 1) throw usageError("--run, --attempt and --since each choose runs: give one of them");
  return {
    run: args.run === undefined ? undefined : String(args.run),
    attempt: int(args.attempt, "attempt", 1),
    follow: args.follow === true,
    lines: int(args.lines, "lines", 0),
    sinceMs,
    raw: args.raw === true,
  };
}

function selectRuns(taskId: string, runs: RunRow[], o: LogsOptions): RunRow[] {
  if (o.sinceMs !== undefined) {
    const from = Date.now() - o.sinceMs;
    const recent = runs.filter((r) => (r.started_at ?? r.created_at) >= from);
    if (!recent.length)
      throw new CliError(
        `task "${terminalSafe(taskId)}" has no run started in the last ${o.sinceMs / 1000} s`,
      );
    return recent.sort((a, b) => a.attempt - b.attempt);
  }
  const r = pickRun(taskId, runs, { run: o.run, attempt: o.attempt });
  if (typeof r === "string") throw new CliError(terminalSafe(r));
  return [r];
}

/** How often `logs -f` looks for a task's first run (a read of the store; cheap). */
const FIRST_RUN_POLL_MS = 300;

/**
 * Poll the store until the task has a run; null on Ctrl-C. A task that ends without one
 * (cancelled, or dead of a failed launch) is an error naming its status.
 */
async function waitForFirstRun<T extends { task: { task_id: string; status: string; runs: unknown[] } }>(
  first: T["task"],
  read: () => Promise<T>,
): Promise<T | null> {
  process.stderr.write(
    `waiting for the first run of task ${terminalSafe(first.task_id)} (${first.status})…\n`,
  );
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.once("SIGINT", onSignal);
  let status = first.status;
  try {
    for (;;) {
      await sleep(FIRST_RUN_POLL_MS);
      if (interrupted) return null;
      const now = await read();
      if (now.task.runs.length) return now;
      if (isIn(FINAL_TASK_STATUSES, now.task.status))
        throw new CliError(`task ${terminalSafe(now.task.task_id)} is ${now.task.status} and never ran`);
      if (now.task.status !== status) {
        status = now.task.status;
        process.stderr.write(`task ${terminalSafe(first.task_id)} is ${status}; still waiting…\n`);
      }
    }
  } finally {
    process.off("SIGINT", onSignal);
  }
}

/** Print one run's output; the exit status the run ended with (when followed). */
async function show(
  config: Parameters<typeof transportForNode>[0],
  run: RunRow,
  o: LogsOptions,
): Promise<number> {
  const t = transportForNode(config, run.node);
  if (!t)
    throw new CliError(
      `run ${run.run_id} ran on node "${terminalSafe(run.node)}", which is not in the config`,
    );
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  const decoder = new SafeTextDecoder();
  try {
    const stream = streamOutput(t, run.run_id, { tailLines: o.lines, follow: o.follow, signal: stop.signal });
    for (;;) {
      const next = await stream.next();
      if (next.done) {
        if (!o.raw) await write(decoder.end());
        if (stop.signal.aborted) return 130;
        return exitStatusOf(next.value.status);
      }
      await write(o.raw ? next.value : decoder.push(next.value));
    }
  } catch (err) {
    if (err instanceof OutputMissingError) throw new CliError(err.message);
    throw new CliError(
      `cannot read the output of run ${run.run_id} on node "${run.node}": ${(err as Error).message}`,
      1,
      {
        cause: err,
      },
    );
  } finally {
    process.off("SIGINT", onSignal);
    await t.close();
  }
}

/** Write with backpressure: the next range is read only once this one is out. */
function write(data: string | Uint8Array): Promise<void> {
  if (!data.length) return Promise.resolve();
  return new Promise((resolve, reject) => {
    process.stdout.write(data, (err) => (err ? reject(err) : resolve()));
  });
}
