import { defineCommand } from "citty";
import { type Controller, startController } from "../controller.ts";
import { logger } from "../log.ts";
import { RECOVERABLE } from "../loops/guardian.ts";
import { revivable } from "../store/healing.ts";
import { endings, isSettled, type Progress, progress as readProgress } from "../store/progress.ts";
import { sharedArgs, withExamples } from "./_shared.ts";
import { cliConfig } from "./context.ts";
import { CliError, usageError } from "./errors.ts";
import { formatEndings } from "./run-summary.ts";

/** The whole graceful shutdown must fit in this; a second signal exits at once with 130. */
export const SHUTDOWN_TIMEOUT_MS = 10_000;
const PROGRESS_EVERY_MS = 1_000;
/** Shell convention 128 + signal number: a script sees `--until-done` was interrupted, not done. */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

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

      let exitCode = 0;
      const finished = new Promise<void>((resolve) => {
        let signals = 0;
        const onSignal = (sig: string) => {
          signals++;
          if (signals > 1) {
            log.warn(`second ${sig}: exiting now`);
            process.exit(130);
          }
          log.info(`${sig}: shutting down (at most ${SHUTDOWN_TIMEOUT_MS / 1000} s)`);
          // The work is not done: never report success. A plain `oyster run` stopped by its
          // service manager is a normal stop and keeps exit 0.
          if (untilDone) exitCode = SIGNAL_EXIT[sig] ?? 1;
          const deadline = setTimeout(() => {
            log.error("shutdown took too long; exiting");
            process.exit(1);
          }, SHUTDOWN_TIMEOUT_MS);
          controller.stop().then(() => {
            clearTimeout(deadline);
            resolve();
          });
        };
        process.on("SIGINT", () => onSignal("SIGINT"));
        process.on("SIGTERM", () => onSignal("SIGTERM"));

        if (showProgress || untilDone) {
          let last = "";
          const timer = setInterval(() => {
            if (controller.state.shuttingDown) return clearInterval(timer);
            let p: Progress;
            let waitingRevival = 0;
            try {
              p = controller.ctx.store.read((db) => readProgress(db));
              // A dead task the guardian will revive can still make progress: wait for it.
              waitingRevival = controller.ctx.store.read(
                (db) => revivable(db, RECOVERABLE, config.retry.auto_revive).length,
              );
            } catch (err) {
              // A store in fault (full disk) is reported by /health; progress resumes with it.
              log.debug(`progress not read: ${(err as Error).message}`);
              return;
            }
            const line = formatProgress(p);
            if (showProgress && line !== last) process.stdout.write(`${line}\n`);
            last = line;
            if (untilDone && isSettled(p) && waitingRevival === 0) {
              clearInterval(timer);
              const bad = (p.counts.dead ?? 0) + (p.counts.blocked ?? 0);
              exitCode = bad > 0 ? 1 : 0;
              let summary: string;
              try {
                summary = formatEndings(
                  p.counts,
                  controller.ctx.store.read((db) => endings(db)),
                );
              } catch (err) {
                summary = `done: ${bad} task(s) did not succeed (details not read: ${(err as Error).message})\n`;
              }
              process.stdout.write(summary);
              controller.stop().then(resolve);
            }
          }, PROGRESS_EVERY_MS);
        }
      });
      await finished;
      process.exitCode = exitCode;
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
