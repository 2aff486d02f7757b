#!/usr/bin/env bun
/**
 * The README's first command: submit the example DAG to a fresh store and run the controller
 * with the embedded defaults (a `local` node) until every task is done, showing progress.
 * Works in `.demo/` so it never touches a store of yours.
 */
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const bin = resolve(root, "dist/oyster");
const work = resolve(root, ".demo");
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
cpSync(resolve(root, "examples/oyster.yaml"), resolve(work, "oyster.yaml"));

const env = { ...process.env, OYSTER_HOME: resolve(work, "node-home") };
const step = (args: string[]) => {
  process.stdout.write(`\n$ oyster ${args.join(" ")}\n`);
  const p = Bun.spawnSync([bin, ...args], { cwd: work, env, stdout: "inherit", stderr: "inherit" });
  if (p.exitCode !== 0) process.exit(p.exitCode ?? 1);
};

step(["submit", resolve(root, "examples/specs")]);
step(["run", "--until-done", "--port", "0"]);
step(["tasks"]);
step(["stats"]);
