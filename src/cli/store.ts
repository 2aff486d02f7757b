import { defineCommand } from "citty";
import { backupStore, checkStore } from "../store/backup.ts";
import { StoreError } from "../store/db.ts";
import { jsonArg, sharedArgs, withExamples } from "./common-args.ts";
import { withStore } from "./config-and-store.ts";
import { CliError } from "./errors.ts";
import { printJson } from "./table.ts";

const check = withExamples(
  defineCommand({
    meta: {
      name: "check",
      description: "Check the store file for damage (PRAGMA integrity_check); read-only",
    },
    args: { ...sharedArgs, ...jsonArg },
    async run({ args }) {
      const r = await withStore(args, (store) => checkStore(store.db, store.path), { readonly: true });
      if (args.json) printJson(r);
      else if (r.ok)
        process.stdout.write(
          `store ${r.path}: ok (${r.tasks} task(s), ${r.runs} run(s), schema v${r.schema_version}, ${r.bytes} bytes)\n`,
        );
      if (!r.ok)
        throw new CliError(
          `store ${r.path} is damaged (${r.problems.length} finding(s)${r.problems.length > 10 ? ", first 10" : ""}):\n  ${r.problems.slice(0, 10).join("\n  ")}\nrestore a backup, or move the file aside to start empty`,
        );
    },
  }),
  ["oyster store check", "oyster store check --json"],
);

const backup = withExamples(
  defineCommand({
    meta: {
      name: "backup",
      description:
        "Copy the store to PATH while the controller runs (VACUUM INTO a temp file, then rename; 0600)",
    },
    args: {
      ...sharedArgs,
      path: { type: "positional", required: true, description: "Where to write the copy" },
    },
    async run({ args }) {
      const r = await withStore(
        args,
        (store) => {
          try {
            return backupStore(store.db, String(args.path));
          } catch (err) {
            if (err instanceof StoreError) throw new CliError(err.message, 1, { cause: err });
            throw err;
          }
        },
        { readonly: true },
      );
      process.stdout.write(`backup written: ${r.path} (${r.bytes} bytes)\n`);
    },
  }),
  ["oyster store backup /backups/oyster-$(date +%F).db"],
);

export default defineCommand({
  meta: { name: "store", description: "The store file: check it for damage, back it up" },
  subCommands: { check, backup },
});
