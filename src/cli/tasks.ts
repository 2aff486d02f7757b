import { defineCommand } from "citty";
import { cancelTask, getTask, listTasks, retryTask, TASK_STATUSES } from "../store/tasks.ts";
import { terminalSafe } from "../terminal-safe.ts";
import { jsonArg, sharedArgs, withExamples } from "./_shared.ts";
import { apiWriteArgs, changeViaApi, wantsApi } from "./api-write.ts";
import { cliConfig, readStore, withStore } from "./context.ts";
import { CliError, usageError } from "./errors.ts";
import { failedOutputTail } from "./show-output.ts";
import { takesMany } from "./strict-args.ts";
import { ago, formatTable, printJson } from "./table.ts";

const listArgs = {
  ...sharedArgs,
  ...jsonArg,
  status: { type: "string", description: `Only this status (${TASK_STATUSES.join(", ")})` },
  project: { type: "string", description: "Only this project" },
  limit: { type: "string", description: "At most this many (default 1000)" },
} as const;

const list = withExamples(
  defineCommand({
    meta: { name: "list", description: "List tasks (the default)" },
    args: listArgs,
    async run({ args }) {
      if (args.status && !(TASK_STATUSES as readonly string[]).includes(String(args.status))) {
        throw usageError(`unknown status "${args.status}"; expected one of ${TASK_STATUSES.join(", ")}`);
      }
      const limit = args.limit === undefined ? 1000 : Number(args.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw usageError(`--limit must be a positive integer, got ${args.limit}`);
      const rows = await readStore(args, (store) =>
        listTasks(store.db, {
          status: args.status as string | undefined,
          project: args.project as string | undefined,
          limit,
        }),
      );
      if (args.json)
        return printJson(
          rows.map(({ body: _b, extra, ...r }) => ({ ...r, extra: extra ? JSON.parse(extra) : {} })),
        );
      if (rows.length === 0) return void process.stdout.write("no tasks\n");
      process.stdout.write(
        `${formatTable(
          ["TASK", "STATUS", "PRI", "PROJECT", "ATTEMPTS", "NODE", "UPDATED"],
          rows.map((t) => [
            t.task_id,
            t.status,
            t.priority,
            t.project || "-",
            `${t.attempts}/${t.max_attempts}`,
            t.node,
            `${ago(t.updated_at)} ago`,
          ]),
        )}\n`,
      );
    },
  }),
  ["oyster tasks", "oyster tasks --status failed", "oyster tasks --project dispatch-infra --json"],
);

const show = withExamples(
  defineCommand({
    meta: { name: "show", description: "One task: fields, dependencies, modified paths, runs" },
    args: { ...sharedArgs, ...jsonArg, id: { type: "positional", required: true, description: "Task id" } },
    async run({ args }) {
      const { t, config } = await readStore(args, (store, loaded) => ({
        t: getTask(store.db, String(args.id)),
        config: loaded.config,
      }));
      if (!t) throw new CliError(`no task named "${args.id}"`);
      if (args.json) return printJson(t);
      const lines = [
        `task        ${t.task_id}`,
        `status      ${t.status}${t.last_reason ? ` (${t.last_reason})` : ""}${t.blocked_by ? ` — blocked by ${t.blocked_by}` : ""}`,
        `project     ${t.project || "-"}`,
        `priority    ${t.priority}`,
        `executor    ${t.executor}${t.command ? `: ${t.command}` : ""}`,
        `attempts    ${t.attempts}/${t.max_attempts}`,
        `depends on  ${t.depends_on.map((d) => `${d.task_id} (${d.status ?? "missing"})`).join(", ") || "-"}`,
        `modifies    ${t.modifies.join(", ") || "-"}`,
        `source      ${t.source ?? "-"}`,
        // The spec's own x- keys, one per line, values as JSON so nested ones stay readable.
        ...Object.entries(t.extra).map(([k, v]) => `${k.padEnd(11)} ${JSON.stringify(v)}`),
      ].map((l) => terminalSafe(l));
      if (t.runs.length) {
        lines.push(
          "",
          formatTable(
            ["RUN", "ATTEMPT", "NODE", "STATE", "EXIT", "REASON", "STARTED", "TOOK"],
            t.runs.map((r) => [
              r.run_id,
              r.attempt,
              r.node,
              r.state,
              r.exit_code,
              r.reason,
              r.started_at ? `${ago(r.started_at)} ago` : "-",
              r.started_at && r.finished_at ? `${((r.finished_at - r.started_at) / 1000).toFixed(1)}s` : "-",
            ]),
          ),
        );
      }
      lines.push(...(await failedOutputTail(config, t.runs)));
      process.stdout.write(`${lines.join("\n")}\n`);
    },
  }),
  ["oyster tasks show S04-health-endpoints", "oyster tasks show S04-health-endpoints --json"],
);

function change(name: "cancel" | "retry", description: string) {
  return withExamples(
    takesMany(
      defineCommand({
        meta: { name, description },
        args: {
          ...sharedArgs,
          ...apiWriteArgs,
          id: { type: "positional", required: true, description: "Task id(s)" },
        },
        async run({ args }) {
          // Each id on its own: one unknown id does not stop the others, and each is reported.
          const ids = args._.map(String);
          if (wantsApi(args)) {
            let failed = false;
            for (const id of ids) {
              try {
                const r = await changeViaApi(cliConfig(args).config, args.url, id, name);
                process.stdout.write(`${terminalSafe(`${id}: ${r.from} → ${r.to}`)}\n`);
              } catch (err) {
                failed = true;
                process.stderr.write(`error: ${terminalSafe((err as Error).message)}\n`);
              }
            }
            if (failed) process.exitCode = 1;
            return;
          }
          const results = await withStore(args, (store) =>
            ids.map((id) => ({
              id,
              r: store.tx((db) =>
                name === "cancel" ? cancelTask(db, id, Date.now()) : retryTask(db, id, Date.now()),
              ),
            })),
          );
          for (const { id, r } of results) {
            if (r.ok)
              process.stdout.write(
                `${terminalSafe(`${id}: ${r.from} → ${name === "cancel" ? "cancelled" : "pending"}`)}\n`,
              );
            else process.stderr.write(`error: ${terminalSafe(r.error)}\n`);
          }
          if (results.some((x) => !x.r.ok)) process.exitCode = 1;
        },
      }),
    ),
    [
      `oyster tasks ${name} S04-health-endpoints`,
      `oyster tasks ${name} ID1 ID2 ID3`,
      `oyster tasks ${name} S04-health-endpoints --api`,
    ],
  );
}

export default withExamples(
  defineCommand({
    meta: { name: "tasks", description: "List, show, cancel and retry tasks" },
    // The listing's flags live here too, so `oyster tasks --status failed` reaches `list`.
    args: listArgs,
    subCommands: {
      list,
      show,
      cancel: change("cancel", "Cancel a task that has not finished"),
      retry: change("retry", "Send a failed, dead, cancelled or blocked task back to pending"),
    },
    default: "list",
  }),
  [
    "oyster tasks --status pending",
    "oyster tasks show ID",
    "oyster tasks retry ID",
    "oyster tasks cancel ID",
  ],
);
