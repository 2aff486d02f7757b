import { defineCommand } from "citty";
import { type Controller, startController } from "../controller.ts";
import { logger } from "../log.ts";
import { runUntilDone } from "../run-until-done.ts";
import type { Progress } from "../store/progress.ts";
import { sharedArgs, withExamples } from "./common-args.ts";
import { cliConfig } from "./config-and-store.ts";
import { CliError, usageError } from "./errors.ts";
import { formatEndings } from "./run-summary.ts";

export default withExamples(
  defineCommand({
    meta: { name: "run", description: "Run the controller: schedule tasks onto nodes and heal the fleet" },
    args: {
      ...sharedArgs,
      host: { type: "string", description: "HTTP bind address (default: http.host)" },
      port: { type: "string", description: "HTTP port (default: http.port; 0 picks a free one)" },
      "until-done": { type: "boolean", description: "Exit when every task has reached a final state" },
      progress: { type: "boolean", description: "Print progress every second (default with --until-done)" },
    },
    async run({ args }) {
      const { config } = cliConfig(args);
      if (args.host) config.http.host = String(args.host);
      if (args.port !== undefined) {
        const port = Number(args.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535)
          throw usageError(`--port must be 0-65535, got ${args.port}`);
        config.http.port = port;
      }
      const log = logger("run");
      let controller: Controller;
      try {
        controller = await startController(config);
      } catch (err) {
        throw new CliError(`controller did not start: ${(err as Error).message}`, 1, { cause: err });
      }
      log.info(`controller started: ${config.nodes.length} node(s), store ${config.store}`);
      const untilDone = Boolean(args["until-done"]);
      const showProgress = args.progress ?? untilDone;

      let last = "";
      process.exitCode = await runUntilDone(controller, config, {
        untilDone,
        onProgress: showProgress
          ? (p) => {
              const line = formatProgress(p);
              if (line !== last) process.stdout.write(`${line}\n`);
              last = line;
            }
          : undefined,
        onSettled: (p, ended) => {
          const bad = (p.counts.dead ?? 0) + (p.counts.blocked ?? 0);
          process.stdout.write(
            ended instanceof Error
              ? `done: ${bad} task(s) did not succeed (details not read: ${ended.message})\n`
              : formatEndings(p.counts, ended),
          );
        },
      });
    },
  }),
  [
    "oyster run",
    "oyster run --port 9000 --log-format json",
    "oyster run --until-done          # work through what is submitted, then exit",
  ],
);

const ORDER = ["pending", "dispatched", "running", "failed", "succeeded", "dead", "blocked", "cancelled"];

export function formatProgress(p: Progress): string {
  const counts = ORDER.filter((s) => p.counts[s]).map((s) => `${p.counts[s]} ${s}`);
  const byNode = new Map<string, string[]>();
  for (const r of p.running) byNode.set(r.node, [...(byNode.get(r.node) ?? []), r.task_id]);
  const where = [...byNode].map(([n, ts]) => `${n}: ${ts.join(", ")}`).join(" | ");
  return `[${new Date().toISOString().slice(11, 19)}] ${counts.join(", ") || "no tasks"}${where ? ` — ${where}` : ""}`;
}
