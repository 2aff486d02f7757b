import { defineCommand } from "citty";
import { collectSpecFiles, formatProblem, intake, readSpecFiles } from "../spec/intake.ts";
import { apiWriteArgs, submitThroughApi, wantsApi } from "./api-write.ts";
import { jsonArg, sharedArgs, withExamples } from "./common-args.ts";
import { withStore } from "./config-and-store.ts";
import { CliError, usageError } from "./errors.ts";
import { takesMany } from "./strict-args.ts";
import { formatTable, printJson } from "./table.ts";

export default withExamples(
  takesMany(
    defineCommand({
      meta: { name: "submit", description: "Submit task specs (files or directories); all or nothing" },
      args: {
        ...sharedArgs,
        ...jsonArg,
        ...apiWriteArgs,
        paths: {
          type: "positional",
          required: false,
          description: "Spec files (.md/.txt) or directories of them",
        },
        "dry-run": { type: "boolean", description: "Validate and print the plan without writing" },
        "allow-missing-deps": {
          type: "boolean",
          description: "Accept dependencies that exist nowhere yet (they wait)",
        },
        replace: {
          type: "boolean",
          description:
            "Give stored tasks that are not running this spec (same id, runs kept, back to pending, attempts reset)",
        },
        "rerun-succeeded": {
          type: "boolean",
          description: "With --replace: replace succeeded tasks too, so they run again",
        },
      },
      async run({ args }) {
        const paths = args._.map(String);
        if (paths.length === 0) throw usageError("give at least one spec file or directory");
        if (args["rerun-succeeded"] && !args.replace)
          throw usageError("--rerun-succeeded goes with --replace (it replaces succeeded tasks too)");
        const collected = collectSpecFiles(paths);
        const read = readSpecFiles(collected.files);
        if (wantsApi(args))
          return submitThroughApi(args, read.inputs, [...collected.problems, ...read.problems]);
        const result = await withStore(args, async (store, { config }) => {
          const r = await intake(store, read.inputs, {
            dryRun: Boolean(args["dry-run"]),
            allowMissingDeps: Boolean(args["allow-missing-deps"]),
            replace: Boolean(args.replace),
            rerunSucceeded: Boolean(args["rerun-succeeded"]),
            executors: config.executors,
            defaultMaxAttempts: config.retry.max_attempts,
            origin: "cli",
          });
          const problems = [...collected.problems, ...read.problems, ...r.problems];
          return { ...r, ok: problems.length === 0 && r.ok, problems };
        });
        const replaced = new Set(result.replaced ?? []);
        if (args.json) {
          printJson({
            ok: result.ok,
            dry_run: Boolean(args["dry-run"]),
            accepted: result.accepted.map((s) => ({
              task_id: s.task_id,
              replaced: replaced.has(s.task_id),
              depends_on: s.depends_on,
              executor: s.executor,
              source: s.source,
            })),
            problems: result.problems,
          });
          if (!result.ok) process.exitCode = 1;
          return;
        }
        if (!result.ok) {
          const lines = result.problems.map((p) => `  ${formatProblem(p)}`).join("\n");
          throw new CliError(
            `batch refused, nothing was submitted (${result.problems.length} problem(s)):\n${lines}`,
          );
        }
        const rows = result.accepted.map((s) => [
          s.task_id,
          replaced.has(s.task_id) ? "replaced" : "new",
          s.priority,
          s.executor,
          s.depends_on.join(", ") || "-",
          s.project || "-",
        ]);
        process.stdout.write(
          `${formatTable(["TASK", "ACTION", "PRI", "EXECUTOR", "DEPENDS ON", "PROJECT"], rows)}\n`,
        );
        process.stdout.write(
          args["dry-run"]
            ? `dry run: ${result.accepted.length} task(s) would be submitted; nothing was written\n`
            : `submitted ${result.accepted.length} task(s)${replaced.size ? ` (${replaced.size} replaced, back to pending with their run history kept)` : ""}\n`,
        );
      },
    }),
  ),
  [
    "oyster submit specs/",
    "oyster submit specs/S04.md specs/S06.md --dry-run",
    "oyster submit specs/ --allow-missing-deps --json",
    "oyster submit specs/ --api",
    "oyster submit specs/S04.md --replace",
    "oyster submit specs/ --replace --rerun-succeeded",
  ],
);
