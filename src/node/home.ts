import { join, resolve } from "node:path";
import { expandHome, userHome } from "../os/paths.ts";

/**
 * Where a node keeps its run directories: `--home`, else $OYSTER_HOME, else ~/.oyster.
 * A leading `~/` is expanded here because the controller may pass it through unexpanded.
 */
export function resolveHome(arg?: string): string {
  const raw = arg || process.env.OYSTER_HOME || "~/.oyster";
  return resolve(expandHome(raw, userHome()));
}

const RUN_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** run ids come from the controller; the node still refuses anything that could escape runs/. */
export function validateRunId(runId: string): string {
  if (!RUN_ID.test(runId) || runId === "." || runId === "..")
    throw new Error(
      `invalid run id ${JSON.stringify(runId)}: expected 1-128 of [A-Za-z0-9._-], not "." or ".."`,
    );
  return runId;
}

export function runsDir(home: string): string {
  return join(home, "runs");
}

export function runDir(home: string, runId: string): string {
  return join(runsDir(home), validateRunId(runId));
}

export const FILES = {
  spec: "spec.md",
  status: "status.json",
  output: "output.log",
  /** The StartRequest the wrapper reads (argv, vars, env). */
  request: "request.json",
  /** Who claimed the run id first: its start, or the controller abandoning it (claim.ts). */
  claim: "claim",
  /** Written by `kill` so the wrapper records `killed` rather than `failed`. */
  killRequested: "kill_requested",
} as const;
