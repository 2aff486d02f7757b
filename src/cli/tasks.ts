import { defineCommand } from "citty";
import { cancelTask, getTask, listTasks, retryTask, TASK_STATUSES } from "../store/tasks.ts";
import { jsonArg, sharedArgs, withExamples } from "./_shared.ts";
import { withStore } from "./context.ts";
import { CliError, usageError } from "./errors.ts";
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
      const rows = await withStore(
        args,
        (store) =>
          listTasks(store.db, {
            status: args.status as string | undefined,
            project: args.project as string | undefined,
            limit,
          }),
        { readonly: true },
      );
      if (args.json) return printJson(rows.map(({ body: _b, ...r }) => r));
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
      const t = await withStore(args, (store) => getTask(store.db, String(args.id)), { readonly: true });
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
      ];
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
      process.stdout.write(`${lines.join("\n")}\n`);
    },
  }),
  ["oyster tasks show S04-health-endpoints", "oyster tasks show S04-health-endpoints --json"],
);

function change(name: "cancel" | "retry", description: string) {
  return withExamples(
    defineCommand({
      meta: { name, description },
      args: { ...sharedArgs, id: { type: "positional", required: true, description: "Task id" } },
      async run({ args }) {
        const id = String(args.id);
        const r = await withStore(args, (store) =>
          store.tx((db) =>
            name === "cancel" ? cancelTask(db, id, Date.now()) : retryTask(db, id, Date.now()),
          ),
        );
        if (!r.ok) throw new CliError(r.error);
        process.stdout.write(`${id}: ${r.from} → ${name === "cancel" ? "cancelled" : "pending"}\n`);
      },
    }),
    [`oyster tasks ${name} S04-health-endpoints`],
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
