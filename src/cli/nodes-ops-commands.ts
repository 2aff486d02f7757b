import { defineCommand } from "citty";
import { checkDuration, formatDuration } from "../config/duration.ts";
import { sleep } from "../os/deadline.ts";
import { terminalSafe } from "../terminal-safe.ts";
import { jsonArg, sharedArgs, withExamples } from "./common-args.ts";
import { cliConfig, withStore } from "./config-and-store.ts";
import { CliError } from "./errors.ts";
import { activeRunCounts, checkNode, DRAIN_POLL_MS, pickNodes, setDrain } from "./node-ops.ts";
import { takesMany } from "./strict-args.ts";
import { formatTable, printJson } from "./table.ts";

const names = { type: "positional", description: "Node name(s) from config", required: false } as const;
const all = { type: "boolean", description: "Every node in config" } as const;

/** `nodes drain` / `nodes undrain`: the flag in the store; the controller obeys it at its next tick. */
export function nodeDrain(draining: boolean) {
  const name = draining ? "drain" : "undrain";
  return withExamples(
    takesMany(
      defineCommand({
        meta: {
          name,
          description: draining
            ? "Stop new launches on nodes; their running tasks finish (--wait: until they are idle)"
            : "Let drained nodes take new work again",
        },
        args: {
          ...sharedArgs,
          name: names,
          all,
          ...(draining
            ? {
                wait: { type: "boolean", description: "Return only when the nodes have no active run" },
                timeout: {
                  type: "string",
                  description:
                    "With --wait: give up (exit 1) after this long, e.g. 30m (default: wait for ever)",
                },
              }
            : {}),
        },
        async run({ args }) {
          const { config } = cliConfig(args);
          const nodes = pickNodes(config, args._.map(String), Boolean(args.all));
          const ids = nodes.map((n) => n.name);
          const opts = args as { wait?: boolean; timeout?: string };
          let limitMs = Number.POSITIVE_INFINITY;
          if (opts.timeout !== undefined) {
            if (!opts.wait) throw new CliError("--timeout goes with --wait", 2);
            const d = checkDuration(opts.timeout);
            if ("error" in d) throw new CliError(`--timeout: ${d.error}`, 2);
            limitMs = d.ms;
          }
          const deadline = Date.now() + limitMs;
          await withStore(args, async (store) => {
            setDrain(store, nodes, draining);
            const counts = activeRunCounts(store, ids);
            for (const n of ids) {
              const running = counts.get(n) ?? 0;
              const what = draining
                ? `draining: no new launches${running ? `; ${running} run(s) still active there` : "; idle"}`
                : "undrained: takes new work again";
              process.stdout.write(`${terminalSafe(`node ${n} ${what}`)}\n`);
            }
            if (!draining || !opts.wait) return;
            let left = ids.filter((n) => (counts.get(n) ?? 0) > 0);
            while (left.length) {
              if (Date.now() >= deadline)
                throw new CliError(
                  `still not idle after ${formatDuration(limitMs)}: ${left.join(", ")} (they stay drained)`,
                );
              await sleep(DRAIN_POLL_MS);
              const now = activeRunCounts(store, left);
              const done = left.filter((n) => (now.get(n) ?? 0) === 0);
              for (const n of done) process.stdout.write(`${terminalSafe(`node ${n} is idle`)}\n`);
              left = left.filter((n) => !done.includes(n));
            }
          });
        },
      }),
    ),
    draining
      ? [
          "oyster nodes drain gpu-1",
          "oyster nodes drain gpu-1 gpu-2 --wait",
          "oyster nodes drain gpu-1 --wait --timeout 30m",
          "oyster nodes drain --all",
        ]
      : ["oyster nodes undrain gpu-1", "oyster nodes undrain --all"],
  );
}

/** `nodes check`: connect to each node now, no controller needed; exit 1 when any fails. */
export const nodeCheck = withExamples(
  takesMany(
    defineCommand({
      meta: {
        name: "check",
        description:
          "Connect to nodes now: reachability, host key, oyster version, load/mem/swap, or why not",
      },
      args: { ...sharedArgs, ...jsonArg, name: names, all },
      async run({ args }) {
        const { config } = cliConfig(args);
        const given = args._.map(String);
        // No names: every node, as `--all` says.
        const nodes = pickNodes(config, given, Boolean(args.all) || given.length === 0);
        const results = await Promise.all(nodes.map((n) => checkNode(config, n)));
        if (results.some((r) => !r.ok)) process.exitCode = 1;
        if (args.json) return printJson(results);
        process.stdout.write(
          `${formatTable(
            ["NODE", "REACHABLE", "HOST KEY", "VERSION", "LOAD", "MEM", "SWAP", "TIME", "REASON"],
            results.map((r) => [
              r.node,
              r.ok ? "yes" : "no",
              r.host_key,
              r.version ?? "-",
              r.resources ? r.resources.load1.toFixed(2) : "-",
              r.resources ? `${Math.round(r.resources.mem_avail_mb)} MB` : "-",
              r.resources ? `${r.resources.swap_used_pct.toFixed(0)}%` : "-",
              `${r.ms} ms`,
              r.error ?? "-",
            ]),
          )}\n`,
        );
        const bad = results.filter((r) => !r.ok);
        if (bad.length)
          process.stderr.write(
            `${terminalSafe(`${bad.length} of ${results.length} node(s) failed the check: ${bad.map((r) => r.node).join(", ")}`)}\n`,
          );
      },
    }),
  ),
  ["oyster nodes check --all", "oyster nodes check gpu-1 gpu-2", "oyster nodes check --all --json"],
);
