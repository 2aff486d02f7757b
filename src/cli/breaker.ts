import { defineCommand } from "citty";
import { breakerPolicy, currentState } from "../dispatch/breaker.ts";
import { deleteBreaker, loadBreakers } from "../store/breakers.ts";
import { recordEvent } from "../store/events.ts";
import { jsonArg, sharedArgs, withExamples } from "./common-args.ts";
import { readStore, withStore } from "./config-and-store.ts";
import { CliError } from "./errors.ts";
import { ago, formatTable, printJson } from "./table.ts";

const list = withExamples(
  defineCommand({
    meta: { name: "list", description: "Show every circuit breaker (per node and per executor)" },
    args: { ...sharedArgs, ...jsonArg },
    async run({ args }) {
      const rows = await readStore(args, (store, { config }) => {
        const now = Date.now();
        const policy = breakerPolicy(config.breaker);
        return [...store.read((db) => loadBreakers(db)).values()].map((b) => {
          const s = currentState(b, now, policy);
          return {
            key: s.key,
            state: s.state,
            failures: s.failures,
            opened_at: s.opened_at,
            last_failure_at: s.last_failure_at,
            reopens_probe_at: s.state === "OPEN" && s.opened_at ? s.opened_at + policy.openForMs : null,
          };
        });
      });
      if (args.json) return printJson(rows);
      if (rows.length === 0) return void process.stdout.write("no breakers have tripped yet (all CLOSED)\n");
      process.stdout.write(
        `${formatTable(
          ["KEY", "STATE", "FAILURES", "OPENED", "LAST FAILURE"],
          rows.map((r) => [
            r.key,
            r.state,
            r.failures,
            r.opened_at ? `${ago(r.opened_at)} ago` : "-",
            r.last_failure_at ? `${ago(r.last_failure_at)} ago` : "-",
          ]),
        )}\n`,
      );
    },
  }),
  ["oyster breaker", "oyster breaker --json"],
);

const reset = withExamples(
  defineCommand({
    meta: { name: "reset", description: "Close a breaker by hand" },
    args: {
      ...sharedArgs,
      key: { type: "positional", required: true, description: "Breaker key, e.g. node:gpu1" },
    },
    async run({ args }) {
      const key = String(args.key);
      const found = await withStore(args, (store) =>
        store.tx((db) => {
          const ok = deleteBreaker(db, key);
          if (ok) recordEvent(db, { kind: "circuit_reset", source: "cli", data: { key } });
          return ok;
        }),
      );
      if (!found) throw new CliError(`no breaker named "${key}" (see \`oyster breaker\`)`);
      process.stdout.write(`${key} reset to CLOSED\n`);
    },
  }),
  ["oyster breaker reset node:gpu1", "oyster breaker reset executor:glm"],
);

export default defineCommand({
  meta: { name: "breaker", description: "Circuit breakers: list them, reset one" },
  args: { ...sharedArgs, ...jsonArg },
  subCommands: { list, reset },
  default: "list",
});
