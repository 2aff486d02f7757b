import { existsSync } from "node:fs";
import { defineCommand } from "citty";
import type { LoadedConfig } from "../config/load.ts";
import { breakerPolicy } from "../dispatch/breaker.ts";
import { sleep } from "../os/deadline.ts";
import type { HealthBody } from "../server/health.ts";
import { type FleetSnapshot, fleetSnapshot, recentEvents } from "../server/snapshot.ts";
import { findToken } from "../server/token.ts";
import type { EventRow } from "../store/events.ts";
import { fetchSupervisorStatus } from "../supervisor/client.ts";
import { jsonArg, sharedArgs, withExamples } from "./common-args.ts";
import { cliConfig, withStore } from "./config-and-store.ts";
import { askController, controllerUrl, urlArg } from "./controller-client.ts";
import { CliError, usageError } from "./errors.ts";
import { formatStatus, type StatusReport } from "./status-view.ts";
import { printJson } from "./table.ts";

/** `oyster status` when no controller of this store answers (systemctl's "not running"). */
export const EXIT_DOWN = 3;

export default withExamples(
  defineCommand({
    meta: {
      name: "status",
      description: "One screen: controller up or down, loops, nodes, tasks, dispatch rate, events",
    },
    args: {
      ...sharedArgs,
      ...jsonArg,
      ...urlArg,
      watch: { type: "boolean", description: "Redraw until Ctrl+C" },
      interval: { type: "string", description: "Seconds between redraws with --watch (default 2)" },
    },
    async run({ args }) {
      const loaded = cliConfig(args);
      const explicit = args.url as string | undefined;
      if (!args.watch) {
        const r = await collectStatus(loaded, args, explicit);
        if (args.json) printJson(r);
        else process.stdout.write(formatStatus(r));
        // Like `systemctl status`: scripts can ask "is it up?" without parsing the output.
        if (!r.controller.up) process.exitCode = EXIT_DOWN;
        return;
      }
      const every = Number(args.interval ?? 2);
      if (!Number.isFinite(every) || every < 0.2)
        throw usageError(`--interval must be ≥ 0.2 s, got ${args.interval}`);
      let stop = false;
      process.once("SIGINT", () => {
        stop = true;
      });
      // `oyster status --watch | head`: the reader went away, which is a normal way to stop.
      process.stdout.on("error", (err: NodeJS.ErrnoException) => {
        if (err.code === "EPIPE") process.exit(0);
        throw err;
      });
      while (!stop) {
        let text: string;
        try {
          const r = await collectStatus(loaded, args, explicit);
          text = args.json ? JSON.stringify(r) : formatStatus(r);
        } catch (err) {
          // Keep watching: the store or the controller may appear on the next round.
          if (!(err instanceof CliError)) throw err;
          text = args.json ? JSON.stringify({ error: err.message }) : `error: ${err.message}\n`;
        }
        if (args.json) process.stdout.write(`${text}\n`);
        else {
          if (process.stdout.isTTY) process.stdout.write("\u001b[H\u001b[2J");
          process.stdout.write(`${text}\n(every ${every}s; Ctrl+C to stop)\n`);
        }
        const until = Date.now() + every * 1000;
        while (!stop && Date.now() < until) await sleep(Math.min(100, until - Date.now()));
      }
    },
  }),
  ["oyster status", "oyster status --watch", "oyster status --json | jq .fleet.tasks"],
);

/** Ask the controller; when it does not answer, read the same figures from the store. */
async function collectStatus(
  loaded: LoadedConfig,
  args: { config?: string },
  explicit: string | undefined,
): Promise<StatusReport> {
  const { config } = loaded;
  const url = controllerUrl(config, explicit);
  const services = await fetchSupervisorStatus(config.state_dir).catch(() => null);
  type Answer = { controller: HealthBody; fleet: FleetSnapshot; events: EventRow[] } | null;
  const r = await askController<Answer>(config, url, Boolean(explicit), "/api/status", 2_000, (a) =>
    a.status === 200 && a.body?.fleet ? a.body.controller : null,
  );
  if (!r.ok) return fromStore(loaded, args, url, r.why, services);
  const body = r.body!; // the controller was found in it, so it is there
  return {
    at: Date.now(),
    controller: { up: true, url, health: r.health, error: null },
    source: "controller",
    fleet: body.fleet,
    events: body.events,
    services,
    api_token: tokenSource(config),
  };
}

async function fromStore(
  loaded: LoadedConfig,
  args: { config?: string },
  url: string,
  error: string,
  services: StatusReport["services"],
): Promise<StatusReport> {
  const { config } = loaded;
  const now = Date.now();
  let read: Pick<StatusReport, "fleet" | "events"> = { fleet: null, events: [] };
  if (existsSync(config.store)) {
    const policy = breakerPolicy(config.breaker);
    read = await withStore(
      args,
      (store) =>
        store.read((db) => ({
          fleet: fleetSnapshot(db, now, config.dispatch.window, policy, {
            ...config,
            breakerPolicy: policy,
            queue: true,
          }),
          events: recentEvents(db),
        })),
      { readonly: true },
    );
  } else if (!services) {
    throw new CliError(
      `${error}, and there is no store at ${config.store} yet (nothing submitted?)`,
      EXIT_DOWN,
    );
  }
  return {
    at: now,
    controller: { up: false, url, health: null, error },
    source: "store",
    ...read,
    services,
    api_token: tokenSource(config),
  };
}

/** Where the token is, for the operator (cliToken already refused an unsafe file). */
function tokenSource(config: LoadedConfig["config"]): StatusReport["api_token"] {
  const t = findToken(config);
  return t.token === null ? { source: "none", path: t.path } : { source: t.source, path: t.path };
}
