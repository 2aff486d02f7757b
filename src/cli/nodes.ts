import { defineCommand } from "citty";
import { listNodes, upsertConfiguredNodes } from "../store/nodes.ts";
import { jsonArg, sharedArgs, withExamples } from "./_shared.ts";
import { withStore } from "./context.ts";
import { ago, formatTable, printJson } from "./table.ts";

const list = withExamples(
  defineCommand({
    meta: { name: "list", description: "List nodes from config with their last known state (the default)" },
    args: { ...sharedArgs, ...jsonArg },
    async run({ args }) {
      const rows = await withStore(args, (store, { config }) =>
        store.tx((db) => {
          upsertConfiguredNodes(db, config.nodes, Date.now());
          return listNodes(db);
        }),
      );
      if (args.json)
        return printJson(
          rows.map((r) => ({ ...r, executors: r.executors ? JSON.parse(r.executors) : null })),
        );
      process.stdout.write(
        `${formatTable(
          [
            "NODE",
            "TRANSPORT",
            "HOST",
            "SLOTS",
            "RUNNING",
            "ONLINE",
            "DRAINING",
            "LOAD",
            "MEM",
            "VERSION",
            "SEEN",
          ],
          rows.map((n) => [
            n.name,
            n.transport,
            n.host ?? "-",
            n.slots,
            n.running,
            n.last_probe_at === null ? "unknown" : n.online ? "yes" : "no",
            n.draining ? "yes" : "no",
            n.load1 === null ? "-" : n.load1.toFixed(2),
            n.mem_avail_mb === null ? "-" : `${Math.round(n.mem_avail_mb)} MB`,
            n.version ?? "-",
            n.last_seen_at ? `${ago(n.last_seen_at)} ago` : "-",
          ]),
        )}\n`,
      );
    },
  }),
  ["oyster nodes", "oyster nodes --json"],
);

export default withExamples(
  defineCommand({
    meta: { name: "nodes", description: "Nodes from config and their state" },
    args: { ...sharedArgs, ...jsonArg },
    subCommands: { list },
    default: "list",
  }),
  ["oyster nodes", "oyster nodes --json"],
);
