import { existsSync } from "node:fs";
import { defineCommand } from "citty";
import { breakerPolicy, currentState, nodeBreakerKey } from "../dispatch/breaker.ts";
import { nodeReason } from "../dispatch/node-reason.ts";
import { createTransports } from "../remote/index.ts";
import { installBinary } from "../remote/install.ts";
import { loadBreakers } from "../store/breakers.ts";
import { configuredNodes, listNodes } from "../store/nodes.ts";
import { terminalSafe } from "../terminal-safe.ts";
import { jsonArg, sharedArgs, wantsWide, wideArg, withExamples } from "./common-args.ts";
import { cliConfig, readStore } from "./config-and-store.ts";
import { pickNodes } from "./node-ops.ts";
import { nodeCheck, nodeDrain } from "./nodes-ops-commands.ts";
import { NODE_WIDE_HEADERS, nodeTimesIso, nodeWideCells } from "./nodes-wide.ts";
import { takesMany } from "./strict-args.ts";
import { ago, formatTable, printJson } from "./table.ts";

const list = withExamples(
  defineCommand({
    meta: { name: "list", description: "List nodes from config with their last known state (the default)" },
    args: { ...sharedArgs, ...jsonArg, ...wideArg },
    async run({ args }) {
      const wide = wantsWide(args);
      // Read-only: listing never writes, so it works on a read-only copy and before any store exists.
      const { config } = cliConfig(args);
      const now = Date.now();
      const { stored, breakers } = existsSync(config.store)
        ? await readStore(args, (store) =>
            store.read((db) => ({ stored: listNodes(db), breakers: loadBreakers(db) })),
          )
        : { stored: [], breakers: new Map() };
      const rows = configuredNodes(stored, config.nodes, now).map((r) => {
        const b = breakers.get(nodeBreakerKey(r.name));
        const breaker = b ? currentState(b, now, breakerPolicy(config.breaker)).state : "CLOSED";
        return { ...r, breaker, reason: nodeReason({ ...r, breaker }) };
      });
      if (args.json)
        return printJson(
          rows.map((r) => ({
            ...r,
            ...nodeTimesIso(r),
            executors: r.executors ? JSON.parse(r.executors) : null,
          })),
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
            "REASON",
            ...(wide ? NODE_WIDE_HEADERS : []),
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
            n.reason,
            ...(wide ? nodeWideCells(n) : []),
          ]),
        )}\n`,
      );
    },
  }),
  ["oyster nodes", "oyster nodes --wide", "oyster nodes --json"],
);

const install = withExamples(
  takesMany(
    defineCommand({
      meta: {
        name: "install",
        description: "Copy this oyster binary to nodes over SFTP (temp file + rename) and check the version",
      },
      args: {
        ...sharedArgs,
        name: { type: "positional", description: "Node name(s) from config", required: false },
        all: { type: "boolean", description: "Every node in config" },
      },
      async run({ args }) {
        const { config } = cliConfig(args);
        // A typo is a usage error before anything is copied anywhere.
        const picked = pickNodes(config, args._.map(String), Boolean(args.all));
        for (const node of picked) {
          const t = createTransports({ ...config, nodes: [node] }).get(node.name)!;
          try {
            const res = await installBinary(t);
            if (res.ok)
              process.stdout.write(`${terminalSafe(`node ${node.name} now runs ${res.version}`)}\n`);
            else {
              process.stderr.write(
                `error: ${terminalSafe(`cannot install on node "${node.name}": ${res.error}`)}\n`,
              );
              process.exitCode = 1;
            }
          } finally {
            await t.close().catch(() => {});
          }
        }
      },
    }),
  ),
  ["oyster nodes install gpu-1", "oyster nodes install gpu-1 gpu-2", "oyster nodes install --all"],
);

export default withExamples(
  defineCommand({
    meta: { name: "nodes", description: "Nodes from config and their state" },
    args: { ...sharedArgs, ...jsonArg, ...wideArg },
    subCommands: {
      list,
      install,
      check: nodeCheck,
      drain: nodeDrain(true),
      undrain: nodeDrain(false),
    },
    default: "list",
  }),
  ["oyster nodes", "oyster nodes --json", "oyster nodes drain gpu-1 --wait", "oyster nodes check --all"],
);
