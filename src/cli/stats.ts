import { defineCommand } from "citty";
import { dispatchStats, STATS_EVENTS_DEFAULT, STATS_EVENTS_MAX } from "../server/snapshot.ts";
import { jsonArg, sharedArgs, withExamples } from "./common-args.ts";
import { readStore } from "./config-and-store.ts";
import { usageError } from "./errors.ts";
import { formatTable, printJson } from "./table.ts";

export default withExamples(
  defineCommand({
    meta: {
      name: "stats",
      description: "Dispatch statistics over the last hour (success rate, failure reasons, recent decisions)",
    },
    args: {
      ...sharedArgs,
      ...jsonArg,
      limit: {
        type: "string",
        description: `Recent dispatch decisions to list, newest first (default ${STATS_EVENTS_DEFAULT}, 0 for none)`,
      },
    },
    async run({ args }) {
      const limit = args.limit === undefined ? STATS_EVENTS_DEFAULT : Number(args.limit);
      if (!Number.isInteger(limit) || limit < 0 || limit > STATS_EVENTS_MAX)
        throw usageError(`--limit must be an integer from 0 to ${STATS_EVENTS_MAX}, got ${args.limit}`);
      const { stats, cfg } = await readStore(args, (store, { config }) => ({
        stats: store.read((db) => dispatchStats(db, Date.now(), config.dispatch.window, limit)),
        cfg: config.dispatch,
      }));
      if (args.json) return printJson(stats);
      const rate = stats.rate === null ? "no data" : `${(stats.rate * 100).toFixed(1)}%`;
      const gate =
        stats.rate !== null && stats.total >= cfg.min_samples && stats.rate < cfg.min_success_rate
          ? `  ← below ${cfg.min_success_rate * 100}%: dispatch is held back`
          : "";
      const lines = [
        `window      ${stats.window_s / 60} min`,
        `dispatched  ${stats.total} (${stats.success} ok, ${stats.failed} failed)`,
        `rate        ${rate}${gate}`,
        `updated     ${stats.last_updated ?? "never"}`,
      ];
      const byCount = (o: Record<string, number | undefined>) =>
        Object.entries(o)
          .map(([k, n]): [string, number] => [k, n ?? 0])
          .sort((a, b) => b[1] - a[1]);
      const reasons = byCount(stats.failure_reasons);
      if (reasons.length) lines.push("", formatTable(["FAILURE REASON", "COUNT"], reasons));
      const refusals = byCount(stats.refusals);
      if (refusals.length) lines.push("", formatTable(["HELD BACK BECAUSE", "TICKS"], refusals));
      const causes = byCount(stats.overload_causes);
      if (causes.length) lines.push("", formatTable(["OVERLOADED BY", "TICKS"], causes));
      if (stats.events.length)
        lines.push(
          "",
          formatTable(
            ["TIME", "RESULT", "REASON", "TASK", "NODE"],
            stats.events.map((e) => [
              e.ts,
              e.success ? "launched" : e.kind === "launch" ? "failed" : "held back",
              e.reason ? `${e.reason}${e.cause ? ` (${e.cause})` : ""}` : "",
              e.task_id ?? "",
              e.node ?? "",
            ]),
          ),
        );
      process.stdout.write(`${lines.join("\n")}\n`);
    },
  }),
  ["oyster stats", "oyster stats --json | jq .rate", "oyster stats --json --limit 5 | jq '.events[0]'"],
);
