import { resolve } from "node:path";
import { type ArgsDef, type CommandDef, defineCommand } from "citty";
import { selfArgv } from "../node/self.ts";
import {
  fetchSupervisorStatus,
  type ServiceAction,
  SupervisorNotRunning,
  SupervisorRequestError,
  serviceAction,
} from "../supervisor/client.ts";
import { follow, tailLines } from "../supervisor/follow.ts";
import { LeftoversSurvive } from "../supervisor/leftovers.ts";
import { SupervisorLocked } from "../supervisor/lock.ts";
import { configBase, planServices, ServicesConfigError } from "../supervisor/plan.ts";
import { startSupervisor } from "../supervisor/supervisor.ts";
import { SERVICES_HEADERS, servicesRows } from "../supervisor/table.ts";
import { launchdPlist, systemdUnit } from "../supervisor/unit.ts";
import { terminalSafe } from "../terminal-safe.ts";
import { jsonArg, sharedArgs, withExamples } from "./_shared.ts";
import { cliConfig } from "./context.ts";
import { CliError, usageError } from "./errors.ts";
import { formatTable, printJson } from "./table.ts";

const SUBCOMMANDS = ["status", "restart", "stop", "start", "logs"];

function notRunning(err: unknown): never {
  if (err instanceof SupervisorNotRunning) throw new CliError(err.message, 1);
  if (err instanceof SupervisorRequestError) throw new CliError(err.message, err.status === 404 ? 1 : 2);
  throw err;
}

const status = withExamples(
  defineCommand({
    meta: { name: "status", description: "Show every supervised service" },
    args: { ...sharedArgs, ...jsonArg },
    async run({ args }) {
      const { config } = cliConfig(args);
      const list = await fetchSupervisorStatus(config.state_dir).catch(notRunning);
      if (!list)
        throw new CliError(
          `no supervisor is running (state dir ${config.state_dir}); start one with \`oyster supervise\``,
        );
      if (args.json) printJson(list);
      else process.stdout.write(`${formatTable(SERVICES_HEADERS, servicesRows(list))}\n`);
    },
  }),
  ["oyster supervise status", "oyster supervise status --json"],
);

function actionCommand(action: ServiceAction, description: string): CommandDef<ArgsDef> {
  return withExamples(
    defineCommand({
      meta: { name: action, description },
      args: {
        ...sharedArgs,
        ...jsonArg,
        name: { type: "positional", required: true, description: "Service name" },
      },
      async run({ args }) {
        const { config } = cliConfig(args);
        const s = await serviceAction(config.state_dir, String(args.name), action).catch(notRunning);
        if (args.json) printJson(s);
        else
          process.stdout.write(
            `${terminalSafe(`${s.name}: ${s.status}`)}${s.pid ? ` (pid ${s.pid})` : ""}\n`,
          );
      },
    }),
    [`oyster supervise ${action} reaper`],
  ) as CommandDef<ArgsDef>;
}

const logs = withExamples(
  defineCommand({
    meta: { name: "logs", description: "Print a service's log file (-f to follow)" },
    args: {
      ...sharedArgs,
      name: { type: "positional", required: true, description: "Service name" },
      follow: { type: "boolean", alias: "f", description: "Keep printing new lines" },
      lines: { type: "string", alias: "n", default: "100", description: "How many lines to show first" },
    },
    async run({ args }) {
      const loaded = cliConfig(args);
      const plan = planOrThrow(loaded.config, loaded.path);
      const svc = plan.find((p) => p.cfg.name === args.name);
      if (!svc)
        throw new CliError(
          `no service named "${args.name}" (known: ${plan.map((p) => p.cfg.name).join(", ")})`,
        );
      const n = Number(args.lines);
      if (!Number.isInteger(n) || n < 0)
        throw usageError(`--lines must be a whole number, got "${args.lines}"`);
      process.stdout.write(tailLines(svc.logFile, n));
      if (!args.follow) return;
      const ac = new AbortController();
      process.once("SIGINT", () => ac.abort());
      process.once("SIGTERM", () => ac.abort());
      await follow(svc.logFile, (s) => process.stdout.write(s), ac.signal);
    },
  }),
  ["oyster supervise logs reaper", "oyster supervise logs reaper -f"],
);

function planOrThrow(config: Parameters<typeof planServices>[0], path: string | null) {
  try {
    return planServices(config, path, configBase(path));
  } catch (err) {
    if (err instanceof ServicesConfigError) throw new CliError(err.message, 1);
    throw err;
  }
}

export default withExamples(
  defineCommand({
    meta: { name: "supervise", description: "Run and heal services (health checks, backoff, clean stop)" },
    args: {
      ...sharedArgs,
      "print-unit": {
        type: "string",
        description: "Print an OS service definition instead",
        valueHint: "systemd|launchd",
      },
    },
    subCommands: {
      status,
      restart: actionCommand("restart", "Restart one service (graceful stop, then start)"),
      stop: actionCommand("stop", "Stop one service until `start`"),
      start: actionCommand("start", "Start a stopped service"),
      logs,
    },
    async run({ args, rawArgs }) {
      // citty runs the parent after a subcommand; the subcommand already did the work.
      if (rawArgs.some((a) => SUBCOMMANDS.includes(a))) return;
      const loaded = cliConfig(args);
      const plan = planOrThrow(loaded.config, loaded.path);
      const kind = args["print-unit"];
      if (kind !== undefined) {
        if (kind !== "systemd" && kind !== "launchd")
          throw usageError(`--print-unit must be "systemd" or "launchd", got "${kind}"`);
        const argv = [...selfArgv(), "supervise", ...(loaded.path ? ["--config", resolve(loaded.path)] : [])];
        const opts = {
          argv,
          workingDirectory: configBase(loaded.path),
          stopTimeoutMs: Math.max(...plan.map((p) => p.cfg.stop_timeout)),
        };
        process.stdout.write(kind === "systemd" ? systemdUnit(opts) : launchdPlist(opts));
        return;
      }
      let sup: Awaited<ReturnType<typeof startSupervisor>>;
      try {
        sup = await startSupervisor(loaded.config, loaded.path);
      } catch (err) {
        const refused =
          err instanceof ServicesConfigError ||
          err instanceof SupervisorLocked ||
          err instanceof LeftoversSurvive;
        if (refused || /already running/.test((err as Error).message))
          throw new CliError((err as Error).message, 1);
        throw err;
      }
      process.exitCode = await sup.done;
    },
  }),
  [
    "oyster supervise",
    "oyster supervise --config /etc/oyster/oyster.yaml",
    "oyster supervise status",
    "oyster supervise restart reaper",
    "oyster supervise logs reaper -f",
    "oyster supervise --print-unit systemd > /etc/systemd/system/oyster.service",
  ],
);
