import { existsSync } from "node:fs";
import { defineCommand } from "citty";
import { createTransports } from "../remote/index.ts";
import { installBinary } from "../remote/install.ts";
import { configuredNodes, listNodes } from "../store/nodes.ts";
import { jsonArg, sharedArgs, withExamples } from "./_shared.ts";
import { cliConfig, withStore } from "./context.ts";
import { CliError } from "./errors.ts";
import { ago, formatTable, printJson } from "./table.ts";

const list = withExamples(
  defineCommand({
    meta: { name: "list", description: "List nodes from config with their last known state (the default)" },
    args: { ...sharedArgs, ...jsonArg },
    async run({ args }) {
      // Read-only: listing never writes, so it works on a read-only copy and before any store exists.
      const { config } = cliConfig(args);
      const stored = existsSync(config.store)
        ? await withStore(args, (store) => store.read((db) => listNodes(db)), { readonly: true })
        : [];
      const rows = configuredNodes(stored, config.nodes, Date.now());
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

const install = withExamples(
  defineCommand({
    meta: {
      name: "install",
      description: "Copy this oyster binary to a node over SFTP (temp file + rename) and check its version",
    },
    args: {
      ...sharedArgs,
      name: { type: "positional", description: "Node name from config", required: true },
    },
    async run({ args }) {
      const { config } = cliConfig(args);
      const node = config.nodes.find((n) => n.name === args.name);
      if (!node)
        throw new CliError(
          `no node named "${args.name}" in config (nodes: ${config.nodes.map((n) => n.name).join(", ")})`,
          2,
        );
      const transports = createTransports({ ...config, nodes: [node] });
      const t = transports.get(node.name)!;
      try {
        const res = await installBinary(t);
        if (!res.ok) throw new CliError(`cannot install on node "${node.name}": ${res.error}`, 1);
        process.stdout.write(`node ${node.name} now runs ${res.version}\n`);
      } finally {
        await t.close().catch(() => {});
      }
    },
  }),
  ["oyster nodes install gpu-1"],
);

export default withExamples(
  defineCommand({
    meta: { name: "nodes", description: "Nodes from config and their state" },
    args: { ...sharedArgs, ...jsonArg },
    subCommands: { list, install },
    default: "list",
  }),
  ["oyster nodes", "oyster nodes --json"],
);
