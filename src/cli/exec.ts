import { defineCommand } from "citty";
import { parseDuration } from "../config/duration.ts";
import { runAgent } from "../node/agent.ts";
import { abandonRun } from "../node/claim.ts";
import { resolveHome, validateRunId } from "../node/home.ts";
import { killRun } from "../node/kill.ts";
import { killRunGroup } from "../node/kill-group.ts";
import { pruneRuns, readOutputWaiting } from "../node/read.ts";
import { parseStartRequest } from "../node/request.ts";
import { readResources } from "../node/resources.ts";
import { startRun } from "../node/start.ts";
import { isFinal, listRuns } from "../node/status.ts";
import { runWrapper } from "../node/wrapper.ts";
import { jsonArg, withExamples } from "./common-args.ts";
import { CliError, usageError } from "./errors.ts";
import { formatTable, printJson } from "./table.ts";

/**
 * `oyster exec …`: the node side, called by the controller over SSH (or by the local transport).
 * Every subcommand takes --home (default $OYSTER_HOME, else ~/.oyster).
 */
const homeArg = {
  home: { type: "string", description: "Node home holding runs/ (default: $OYSTER_HOME or ~/.oyster)" },
} as const;

function home(args: { home?: string }): string {
  return resolveHome(args.home);
}

const runIdArg = { run_id: { type: "positional", required: true, description: "Run id" } } as const;
const graceArg = {
  grace: { type: "string", description: "Wait between SIGTERM and SIGKILL (default 5s)" },
} as const;
const GRACE_DEFAULT_MS = 5_000;

/** The run id argument, checked: a bad one is a usage error. */
function runIdOf(args: { run_id: string }): string {
  try {
    return validateRunId(String(args.run_id));
  } catch (err) {
    throw usageError((err as Error).message);
  }
}

/** A duration flag in ms (undefined when not given), or a usage error naming it with an example. */
function durationFlag(v: string | undefined, name: string, example: string): number | undefined {
  if (v === undefined) return undefined;
  const d = parseDuration(String(v));
  if (d === null)
    throw usageError(`--${name}: expected a duration like ${example}, got ${JSON.stringify(v)}`);
  return d;
}

const start = withExamples(
  defineCommand({
    meta: {
      name: "start",
      description: "Start a run from a StartRequest (JSON on stdin); prints its status",
    },
    args: { ...homeArg },
    async run({ args }) {
      const text = await Bun.stdin.text();
      let req: ReturnType<typeof parseStartRequest>;
      try {
        req = parseStartRequest(JSON.parse(text));
      } catch (err) {
        throw usageError(`bad start request on stdin: ${(err as Error).message}`);
      }
      const status = await startRun(home(args), req);
      printJson(status);
    },
  }),
  [
    `echo '{"run_id":"r1","task_id":"t1","spec":"hi","argv":["sh","-c","echo {task_id}"],"vars":{"task_id":"t1"}}' | oyster exec start`,
  ],
);

const wrapper = withExamples(
  defineCommand({
    meta: { name: "wrapper", description: "Internal: own one run (spawned detached by start)" },
    args: { ...homeArg, ...runIdArg },
    async run({ args }) {
      const code = await runWrapper(home(args), validateRunId(String(args.run_id)));
      process.exitCode = code;
    },
  }),
  ["oyster exec wrapper --home ~/.oyster RUN_ID   # spawned by `exec start`, not by hand"],
);

const list = withExamples(
  defineCommand({
    meta: { name: "list", description: "Every run on this node with its state (lost = wrapper gone)" },
    args: {
      ...homeArg,
      ...jsonArg,
      active: { type: "boolean", description: "Only runs not yet over (starting, running, lost)" },
      runs: { type: "string", description: "Only these run ids, comma-separated (with --active: these too)" },
    },
    run({ args }) {
      const runs = listRuns(home(args), {
        active: Boolean(args.active),
        runs: typeof args.runs === "string" ? args.runs.split(",").filter(Boolean) : undefined,
      });
      if (args.json) return printJson(runs);
      process.stdout.write(
        `${formatTable(
          ["RUN", "TASK", "STATE", "PID", "EXIT"],
          runs.map((r) => [r.run_id, r.task_id, r.state, r.pid, r.exit_code]),
        )}\n`,
      );
    },
  }),
  [
    "oyster exec list --json",
    "oyster exec list --active --runs r1,r2 --json",
    "oyster exec list --home /srv/oyster",
  ],
);

const kill = withExamples(
  defineCommand({
    meta: { name: "kill", description: "SIGTERM a run's process group, SIGKILL after the grace" },
    args: {
      ...homeArg,
      ...jsonArg,
      ...runIdArg,
      ...graceArg,
    },
    async run({ args }) {
      const grace = durationFlag(args.grace, "grace", "5s") ?? GRACE_DEFAULT_MS;
      const runId = runIdOf(args);
      const res = await killRun(home(args), runId, grace);
      if (args.json) return printJson(res);
      const state = res.status?.state ?? (res.signalled ? "signalled" : "not signalled");
      // A run that was not signalled (unknown, already over) is described by the note alone.
      if (res.note && !res.signalled && (!res.found || (res.status && isFinal(res.status))))
        process.stdout.write(`${res.note}\n`);
      else process.stdout.write(`run ${runId} ${state}${res.note ? ` (${res.note})` : ""}\n`);
    },
  }),
  ["oyster exec kill RUN_ID", "oyster exec kill RUN_ID --grace 30s"],
);

const killGroup = withExamples(
  defineCommand({
    meta: {
      name: "kill-group",
      description: "Kill a lost run's processes by the process group recorded at start",
    },
    args: {
      ...jsonArg,
      ...runIdArg,
      pid: { type: "string", required: true, description: "The run's process group id" },
      ...graceArg,
    },
    async run({ args }) {
      const grace = durationFlag(args.grace, "grace", "5s") ?? GRACE_DEFAULT_MS;
      const pid = Number(args.pid);
      if (!/^\d+$/.test(String(args.pid)) || pid <= 1)
        throw usageError(`--pid: expected a process group id above 1, got ${JSON.stringify(args.pid)}`);
      const runId = runIdOf(args);
      const res = await killRunGroup(runId, pid, grace);
      if (args.json) return printJson(res);
      process.stdout.write(`${res.note}\n`);
      if (!res.gone) process.exitCode = 1;
    },
  }),
  ["oyster exec kill-group RUN_ID --pid 4242", "oyster exec kill-group RUN_ID --pid 4242 --json"],
);

const abandon = withExamples(
  defineCommand({
    meta: {
      name: "abandon",
      description: "Fence off a run id the controller gave up on, so a late start of it never runs",
    },
    args: { ...homeArg, ...jsonArg, ...runIdArg },
    run({ args }) {
      const res = abandonRun(home(args), runIdOf(args));
      if (args.json) return printJson(res);
      process.stdout.write(`${res.note}\n`);
      if (!res.abandoned) process.exitCode = 1;
    },
  }),
  ["oyster exec abandon RUN_ID", "oyster exec abandon RUN_ID --json"],
);

/** A non-negative integer flag, or a usage error naming it. */
function intFlag(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(String(v)) || !Number.isSafeInteger(Number(v)))
    throw usageError(`--${name}: expected a non-negative integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

const read = withExamples(
  defineCommand({
    meta: {
      name: "read",
      description: "One range of a run's output.log (at most 256 KiB; base64 with --json)",
    },
    args: {
      ...homeArg,
      ...jsonArg,
      ...runIdArg,
      offset: { type: "string", description: "Byte offset (default 0)" },
      limit: { type: "string", description: "At most this many bytes (default and cap 262144)" },
      "tail-lines": { type: "string", description: "Start at the last N lines instead of --offset" },
      wait: { type: "string", description: "Nothing new yet and the run goes on: wait up to this (max 5s)" },
    },
    async run({ args }) {
      const runId = runIdOf(args);
      const chunk = await readOutputWaiting(home(args), {
        wait_ms: durationFlag(args.wait, "wait", "1s"),
        run_id: runId,
        offset: intFlag(args.offset, "offset"),
        limit: intFlag(args.limit, "limit"),
        tail_lines: intFlag(args["tail-lines"], "tail-lines"),
      });
      if (args.json) return printJson(chunk);
      if (!chunk.exists) throw new CliError(`no run ${runId} on this node`);
      process.stdout.write(Buffer.from(chunk.data, "base64"));
    },
  }),
  ["oyster exec read RUN_ID --offset 0 --limit 65536 --json", "oyster exec read RUN_ID --tail-lines 20"],
);

const prune = withExamples(
  defineCommand({
    meta: {
      name: "prune",
      description: "Remove finished run directories among the named runs (never one still running)",
    },
    args: {
      ...homeArg,
      ...jsonArg,
      runs: { type: "string", description: "Candidate run ids, comma-separated" },
      "runs-stdin": { type: "boolean", description: "Read candidate run ids from stdin, one per line" },
      "older-than": { type: "string", description: "Only runs that finished longer ago than this (e.g. 7d)" },
      keep: { type: "string", description: "Keep the newest N candidates (others go)" },
    },
    async run({ args }) {
      const ids = [
        ...(typeof args.runs === "string" ? args.runs.split(",") : []),
        ...(args["runs-stdin"] ? (await Bun.stdin.text()).split("\n") : []),
      ]
        .map((s) => s.trim())
        .filter(Boolean);
      if (!args.runs && !args["runs-stdin"])
        throw usageError("prune needs the candidate runs: --runs ID,ID or --runs-stdin");
      const olderThan = durationFlag(args["older-than"], "older-than", "7d");
      let report: ReturnType<typeof pruneRuns>;
      try {
        report = pruneRuns(home(args), {
          runs: ids,
          older_than_ms: olderThan,
          keep: intFlag(args.keep, "keep"),
        });
      } catch (err) {
        throw usageError((err as Error).message);
      }
      if (args.json) return printJson(report);
      process.stdout.write(
        `removed ${report.removed.length}, kept ${report.kept.length}, missing ${report.missing}\n`,
      );
    },
  }),
  [
    "oyster exec prune --runs r1,r2 --json",
    "printf 'r1\\nr2\\n' | oyster exec prune --runs-stdin --older-than 7d --keep 1000 --json",
  ],
);

const resources = withExamples(
  defineCommand({
    meta: { name: "resources", description: "Load, memory and swap of this node" },
    args: { ...homeArg, ...jsonArg },
    run({ args }) {
      const r = readResources();
      if (args.json) return printJson(r);
      process.stdout.write(
        `${formatTable(
          ["LOAD1", "LOAD5", "LOAD15", "MEM AVAIL MB", "SWAP USED %", "CPUS"],
          [[r.load1, r.load5, r.load15, r.mem_avail_mb, r.swap_used_pct, r.cpus]],
        )}\n`,
      );
    },
  }),
  ["oyster exec resources --json"],
);

const agent = withExamples(
  defineCommand({
    meta: {
      name: "agent",
      description: "JSON-lines session on stdin/stdout (one per controller connection)",
    },
    args: { ...homeArg },
    async run({ args }) {
      const h = home(args);
      try {
        await runAgent({ home: h, input: process.stdin, write: (line) => process.stdout.write(line) });
      } catch (err) {
        throw new CliError(`agent: ${(err as Error).message}`);
      }
    },
  }),
  [`echo '{"id":1,"op":"ping"}' | oyster exec agent`],
);

export default withExamples(
  defineCommand({
    meta: {
      name: "exec",
      description: "Node side: start/list/kill runs (called by the controller over SSH)",
    },
    subCommands: {
      start,
      list,
      kill,
      "kill-group": killGroup,
      abandon,
      read,
      prune,
      resources,
      agent,
      wrapper,
    },
  }),
  ["oyster exec list --json", "oyster exec resources --json", "oyster exec kill RUN_ID"],
);
