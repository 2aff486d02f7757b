import { resolve } from "node:path";
import { type ArgsDef, type CommandDef, defineCommand } from "citty";
import { selfArgv } from "../node/self.ts";
import { ServeError } from "../server/serve.ts";
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
import { linePrefixer, mergeTails } from "../supervisor/logview.ts";
import { configBase, planServices, ServicesConfigError } from "../supervisor/plan.ts";
import { startSupervisor } from "../supervisor/supervisor.ts";
import { SERVICES_HEADERS, servicesRows } from "../supervisor/table.ts";
import { resolveTargets, serviceLabel } from "../supervisor/targets.ts";
import { launchdPlist, serviceUnit, systemdUnit } from "../supervisor/unit.ts";
import { terminalSafe } from "../terminal-safe.ts";
import { jsonArg, sharedArgs, withExamples } from "./common-args.ts";
import { cliConfig } from "./config-and-store.ts";
import { CliError, usageError } from "./errors.ts";
import { formatTable, printJson } from "./table.ts";

function notRunning(err: unknown): never {
  if (err instanceof SupervisorNotRunning) throw new CliError(err.message, 1);
  if (err instanceof SupervisorRequestError) throw new CliError(err.message, err.status === 404 ? 1 : 2);
  throw err;
}

/** Every service of the running supervisor; no supervisor is an error saying how to start one. */
async function runningServices(stateDir: string) {
  const list = await fetchSupervisorStatus(stateDir).catch(notRunning);
  if (!list)
    throw new CliError(
      `no supervisor is running (state dir ${stateDir}); start one with \`oyster supervise\``,
    );
  return list;
}

const status = withExamples(
  defineCommand({
    meta: { name: "status", description: "Show every supervised service" },
    args: { ...sharedArgs, ...jsonArg },
    async run({ args }) {
      const { config } = cliConfig(args);
      const list = await runningServices(config.state_dir);
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
        name: {
          type: "positional",
          required: true,
          description: "Service name, NAME@node as the table prints it, or all",
        },
      },
      async run({ args }) {
        const { config } = cliConfig(args);
        const list = await runningServices(config.state_dir);
        const targets = resolveTargets(String(args.name), list);
        if (!targets.ok) throw new CliError(targets.error, 1);
        // One after another: `restart all` never takes every service down at once.
        const done = [];
        for (const t of targets.services) {
          const st = await serviceAction(config.state_dir, t.name, action).catch(notRunning);
          done.push(st);
          if (!args.json)
            process.stdout.write(
              `${terminalSafe(`${serviceLabel(st)}: ${st.status}`)}${st.pid ? ` (pid ${st.pid})` : ""}\n`,
            );
        }
        if (args.json) printJson(String(args.name) === "all" ? done : done[0]);
      },
    }),
    [
      `oyster supervise ${action} reaper`,
      `oyster supervise ${action} worker@gpu1`,
      `oyster supervise ${action} all`,
    ],
  ) as CommandDef<ArgsDef>;
}

const logs = withExamples(
  defineCommand({
    meta: {
      name: "logs",
      description: "Print a service's log (-f to follow); with no name, follow every service",
    },
    args: {
      ...sharedArgs,
      name: {
        type: "positional",
        required: false,
        description: "Service name, NAME@node, or all (the default)",
      },
      follow: {
        type: "boolean",
        alias: "f",
        description: "Keep printing new lines (the default with no name; --no-follow to stop)",
      },
      lines: { type: "string", alias: "n", default: "100", description: "How many lines to show first" },
    },
    async run({ args }) {
      const loaded = cliConfig(args);
      const plan = planOrThrow(loaded.config, loaded.path);
      const services = plan.map((p) => ({
        name: p.cfg.name,
        host: p.node?.name ?? "local",
        file: p.logFile,
      }));
      const arg = args.name === undefined || args.name === "" ? "all" : String(args.name);
      const targets = resolveTargets(arg, services);
      if (!targets.ok) throw new CliError(targets.error, 1);
      const n = Number(args.lines);
      if (!Number.isInteger(n) || n < 0)
        throw usageError(`--lines must be a whole number, got "${args.lines}"`);
      const ac = new AbortController();
      process.once("SIGINT", () => ac.abort());
      process.once("SIGTERM", () => ac.abort());
      const write = (s: string) => {
        if (s) process.stdout.write(s);
      };
      if (arg !== "all") {
        const file = targets.services[0]?.file ?? "";
        write(terminalSafe(tailLines(file, n), { keepNewlines: true }));
        if (args.follow) await follow(file, (s) => write(terminalSafe(s, { keepNewlines: true })), ac.signal);
        return;
      }
      // Every service, each line prefixed with its name as the table prints it.
      const width = Math.max(...targets.services.map((t) => serviceLabel(t).length));
      write(
        mergeTails(
          targets.services.map((t) => ({ label: serviceLabel(t), text: tailLines(t.file, n) })),
          width,
        ),
      );
      if (args.follow === false) return;
      await Promise.all(
        targets.services.map((t) => {
          const prefix = linePrefixer(serviceLabel(t), width);
          return follow(t.file, (s) => write(prefix(s)), ac.signal);
        }),
      );
    },
  }),
  [
    "oyster supervise logs",
    "oyster supervise logs reaper",
    "oyster supervise logs reaper -f",
    "oyster supervise logs worker@gpu1 -n 20",
  ],
);

/**
 * One systemd unit per service, separated by a blank line, each starting with its file name. A
 * remote service cannot be a unit here (it runs on its node): refused, naming it.
 */
function perServiceUnits(plan: ReturnType<typeof planOrThrow>, base: string, ownRun: boolean): string {
  const remote = plan.filter((p) => p.node);
  if (remote.length)
    throw new CliError(
      `--per-service prints units for this machine only; ${remote.map((p) => `"${p.cfg.name}" runs on node "${p.node?.name}"`).join(", ")} (install its unit on that node, or leave it to \`oyster supervise\`)`,
      1,
    );
  return plan
    .map((p) => {
      const cwd = resolve(base, p.cfg.cwd ?? ".");
      const [exe = "", ...rest] = p.cfg.command;
      // systemd wants an absolute program path (or a bare name it looks up), not ./bin/api.
      const program = exe.includes("/") ? resolve(cwd, exe) : exe;
      return serviceUnit({
        name: p.cfg.name,
        argv: [program, ...rest],
        workingDirectory: cwd,
        env: p.cfg.env,
        stopTimeoutMs: p.cfg.stop_timeout,
        restartDelayMs: p.cfg.backoff.initial,
        logFile: resolve(p.logFile),
        hasHealthCheck: p.cfg.health !== undefined,
        childrenOutlive: ownRun,
      });
    })
    .join("\n");
}

function planOrThrow(config: Parameters<typeof planServices>[0], path: string | null) {
  try {
    return planServices(config, path, configBase(path));
  } catch (err) {
    if (err instanceof ServicesConfigError) throw new CliError(err.message, 1);
    throw err;
  }
}

const superviseArgs = {
  ...sharedArgs,
  "print-unit": {
    type: "string",
    description: "Print an OS service definition instead",
    valueHint: "systemd|launchd",
  },
  "per-service": {
    type: "boolean",
    description: "With --print-unit systemd: one unit per local service instead, for systemd to own each",
  },
} as const satisfies ArgsDef;

/**
 * `oyster supervise` with no subcommand: citty's `default` runs this one with the same argv, so
 * the parent needs no `run` (which citty would also call after every subcommand).
 */
const serve = defineCommand({
  meta: { name: "serve", description: "Run the supervisor (the default)", hidden: true },
  args: superviseArgs,
  async run({ args }) {
    const loaded = cliConfig(args);
    const plan = planOrThrow(loaded.config, loaded.path);
    const kind = args["print-unit"];
    if (kind !== undefined) {
      if (kind !== "systemd" && kind !== "launchd")
        throw usageError(`--print-unit must be "systemd" or "launchd", got "${kind}"`);
      if (args["per-service"]) {
        if (kind !== "systemd") throw usageError("--per-service is for --print-unit systemd only");
        const ownRun = loaded.config.services.length === 0;
        process.stdout.write(perServiceUnits(plan, resolve(configBase(loaded.path)), ownRun));
        return;
      }
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
        err instanceof ServeError ||
        err instanceof LeftoversSurvive;
      if (refused) throw new CliError((err as Error).message, 1);
      throw err;
    }
    process.exitCode = await sup.done;
  },
});

export default withExamples(
  defineCommand({
    meta: { name: "supervise", description: "Run and heal services (health checks, backoff, clean stop)" },
    // Declared here too, for --help and the strict argument check of `oyster supervise --flag`.
    args: superviseArgs,
    subCommands: {
      status,
      restart: actionCommand("restart", "Restart one service (graceful stop, then start)"),
      stop: actionCommand("stop", "Stop one service until `start`"),
      start: actionCommand("start", "Start a stopped service"),
      logs,
      serve,
    },
    default: "serve",
  }),
  [
    "oyster supervise",
    "oyster supervise --config /etc/oyster/oyster.yaml",
    "oyster supervise status",
    "oyster supervise restart reaper",
    "oyster supervise logs reaper -f",
    "oyster supervise logs",
    "oyster supervise restart all",
    "oyster supervise --print-unit systemd > /etc/systemd/system/oyster.service",
    "oyster supervise --print-unit systemd --per-service",
  ],
);
