import { defineCommand } from "citty";
import { windowStats } from "../store/dispatch-events.ts";
import { jsonArg, sharedArgs, withExamples } from "./_shared.ts";
import { readStore } from "./context.ts";
import { formatTable, printJson } from "./table.ts";

export default withExamples(
  defineCommand({
    meta: {
      name: "stats",
      description: "Dispatch statistics over the last hour (success rate, failure reasons)",
    },
    args: { ...sharedArgs, ...jsonArg },
    async run({ args }) {
      const { stats, cfg } = await readStore(args, (store, { config }) => ({
        stats: store.read((db) => windowStats(db, Date.now(), config.dispatch.window)),
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
      ];
      const reasons = Object.entries(stats.failure_reasons).sort((a, b) => b[1] - a[1]);
      if (reasons.length) lines.push("", formatTable(["FAILURE REASON", "COUNT"], reasons));
      const refusals = Object.entries(stats.refusals).sort((a, b) => b[1] - a[1]);
      if (refusals.length) lines.push("", formatTable(["HELD BACK BECAUSE", "TICKS"], refusals));
      process.stdout.write(`${lines.join("\n")}\n`);
    },
  }),
  ["oyster stats", "oyster stats --json | jq .rate"],
);
