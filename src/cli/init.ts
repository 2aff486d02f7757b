import { existsSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { defineCommand } from "citty";
import { parse } from "yaml";
import { parseConfig } from "../config/load.ts";
import { SAMPLE_CONFIG } from "../config/sample.ts";
import { sharedArgs, withExamples } from "./common-args.ts";
import { CliError } from "./errors.ts";

export default withExamples(
  defineCommand({
    meta: { name: "init", description: "Write a commented sample oyster.yaml" },
    args: {
      ...sharedArgs,
      path: { type: "positional", required: false, default: "oyster.yaml", description: "Where to write it" },
      force: { type: "boolean", description: "Overwrite an existing file" },
    },
    run({ args }) {
      const target = resolve(String(args.path));
      if (existsSync(target) && !args.force) {
        throw new CliError(`${target} already exists (use --force to overwrite)`);
      }
      // The sample must always load: a broken sample would be the first thing a user sees.
      parseConfig(parse(SAMPLE_CONFIG), "sample");
      writeFileSync(target, SAMPLE_CONFIG, { mode: 0o644 });
      process.stdout.write(`wrote ${target}\n`);
    },
  }),
  ["oyster init", "oyster init /etc/oyster/oyster.yaml --force"],
);
