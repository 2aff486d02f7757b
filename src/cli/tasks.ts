import { defineCommand } from "citty";
import { WAITING_WINDOW } from "../server/snapshot.ts";
import { taskJson } from "../server/task-json.ts";
import { listEvents } from "../store/events.ts";
import { modifiesOf, placementConfig, waitingReasons } from "../store/placement-facts.ts";
import { cancelTask, getTask, listTasks, retryTask, TASK_STATUSES } from "../store/tasks.ts";
import { terminalSafe } from "../terminal-safe.ts";
import { apiWriteArgs, changeViaApi, wantsApi } from "./api-write.ts";
import { awaitCancel, awaitCancelViaApi, describeCancel } from "./cancel-wait.ts";
import { jsonArg, sharedArgs, wantsWide, wideArg, withExamples } from "./common-args.ts";
import { cliConfig, readStore, withStore } from "./config-and-store.ts";
import { CliError, usageError } from "./errors.ts";
import { failedOutputTail } from "./show-output.ts";
import { takesMany } from "./strict-args.ts";
import { ago, formatTable, printJson } from "./table.ts";
import { formatAttemptsLine, formatTimeoutLine, taskLimits } from "./task-limits.ts";
import { formatTaskList } from "./tasks-view.ts";

const listArgs = {
  ...sharedArgs,
  ...jsonArg,
  status: { type: "string", description: `Only this status (${TASK_STATUSES.join(", ")})` },
  project: { type: "string", description: "Only this project" },
  limit: { type: "string", description: "At most this many (default 1000)" },
  ...wideArg,
  wide: { ...wideArg.wide, description: "More columns: modifies, timeout, reason detail, last error" },
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
      const wide = wantsWide(args);
      const view = await readStore(args, (store, loaded) =>
        store.read((db) => {
          const rows = listTasks(db, {
            status: args.status as string | undefined,
            project: args.project as string | undefined,
            limit,
          });
          const waiting = rows.some((t) => t.status === "pending")
            ? waitingReasons(db, Date.now(), placementConfig(loaded.config), Math.max(limit, WAITING_WINDOW))
            : new Map();
          const modifies = args.wide
            ? modifiesOf(
                db,
                rows.map((t) => t.task_id),
              )
            : undefined;
          return { rows, waiting, modifies };
        }),
      );
      if (args.json)
        return printJson(
          view.rows.map(({ body: _b, extra, ...r }) => ({
            ...taskJson(r, view.waiting),
            extra: extra ? JSON.parse(extra) : {},
          })),
        );
      if (view.rows.length === 0) return void process.stdout.write("no tasks\n");
      process.stdout.write(`${formatTaskList(view, { wide })}\n`);
    },
  }),
  [
    "oyster tasks",
    "oyster tasks --status pending --wide",
    "oyster tasks --status failed",
    "oyster tasks --project dispatch-infra --json",
  ],
);

/** Pending tasks `tasks show` places to explain one (the scheduler's order up to it). */
const SHOW_WINDOW = 10_000;

const show = withExamples(
  defineCommand({
    meta: { name: "show", description: "One task: fields, dependencies, modified paths, runs" },
    args: { ...sharedArgs, ...jsonArg, id: { type: "positional", required: true, description: "Task id" } },
    async run({ args }) {
      const found = await readStore(args, (store, loaded) =>
        store.read((db) => {
          const t = getTask(db, String(args.id));
          const waiting =
            t?.status === "pending"
              ? waitingReasons(db, Date.now(), placementConfig(loaded.config), SHOW_WINDOW)
              : new Map();
          const pendingKill = t
            ? listEvents(db, { kind: "cancel_kill_pending", task_id: t.task_id, limit: 1 })[0]
            : undefined;
          return t ? { t, waiting, config: loaded.config, pendingKill } : null;
        }),
      );
      if (!found) throw new CliError(`no task named "${args.id}"`);
      const { t, config } = found;
      const w = found.waiting.get(t.task_id);
      const limits = taskLimits(t, config);
      if (args.json) return printJson({ ...taskJson(t, found.waiting), ...limits });
      const cancelling =
        t.cancel_requested_at !== null && (t.status === "running" || t.status === "dispatched")
          ? ` — cancel requested ${ago(t.cancel_requested_at)} ago, kill pending${found.pendingKill ? `: ${JSON.parse(found.pendingKill.data ?? "{}").error ?? "node unreachable"}` : ""}`
          : "";
      const lines = [
        `task        ${t.task_id}`,
        `status      ${t.status}${t.last_reason ? ` (${t.last_reason})` : ""}${t.blocked_by ? ` — blocked by ${t.blocked_by}` : ""}${cancelling}`,
        ...(w ? [`waiting     ${w.reason}${w.detail ? `: ${w.detail}` : ""}`] : []),
        `project     ${t.project || "-"}`,
        `priority    ${t.priority}`,
        `executor    ${t.executor}${t.command ? `: ${t.command}` : ""}`,
        `attempts    ${formatAttemptsLine(t, limits)}`,
        `timeout     ${formatTimeoutLine(limits, config.timeouts.estimate_factor)}`,
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

/** A retried succeeded task runs again; say so, since its succeeded dependents do not. */
const rerun = (from: string) => (from === "succeeded" ? " (rerun; dependents that succeeded stay)" : "");

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
                const { config } = cliConfig(args);
                const since = Date.now();
                const r = await changeViaApi(config, args.url, id, name);
                const line =
                  r.to === "cancelling"
                    ? describeCancel(
                        id,
                        r.from,
                        r.node ?? "its node",
                        await awaitCancelViaApi(config, args.url, id, r.node ?? "its node", since),
                      )
                    : `${id}: ${r.from} → ${r.to}${rerun(r.from)}`;
                process.stdout.write(`${terminalSafe(line)}\n`);
              } catch (err) {
                failed = true;
                process.stderr.write(`error: ${terminalSafe((err as Error).message)}\n`);
              }
            }
            if (failed) process.exitCode = 1;
            return;
          }
          const results = await withStore(args, async (store, { config }) => {
            const now = Date.now();
            const out = ids.map((id) => ({
              id,
              r: store.tx((db) => (name === "cancel" ? cancelTask(db, id, now) : retryTask(db, id, now))),
            }));
            // A running task is cancelled only once the controller has sent the kill: say which.
            return Promise.all(
              out.map(async ({ id, r }) => {
                if (!r.ok) return { id, r, line: null };
                if (r.to !== "cancelling")
                  return { id, r, line: `${id}: ${r.from} → ${r.to}${rerun(r.from)}` };
                const node = r.node ?? "its node";
                const o = await awaitCancel(store, config, id, node, now);
                return { id, r, line: describeCancel(id, r.from, node, o) };
              }),
            );
          });
          for (const { r, line } of results) {
            if (r.ok) process.stdout.write(`${terminalSafe(line ?? "")}\n`);
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
      retry: change("retry", "Send a failed, dead, cancelled, blocked or succeeded task back to pending"),
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
