import type { StartRequest } from "../protocol/messages.ts";
import { validateRunId } from "./home.ts";

const isStringRecord = (v: unknown): v is Record<string, string> =>
  typeof v === "object" &&
  v !== null &&
  !Array.isArray(v) &&
  Object.values(v).every((x) => typeof x === "string");

/** Check a StartRequest that arrived as JSON (stdin or the agent); throws naming the bad field. */
export function parseStartRequest(v: unknown): StartRequest {
  if (typeof v !== "object" || v === null) throw new Error("start request must be a JSON object");
  const r = v as Record<string, unknown>;
  if (typeof r.run_id !== "string") throw new Error("start request: run_id must be a string");
  validateRunId(r.run_id);
  if (typeof r.task_id !== "string" || !r.task_id)
    throw new Error("start request: task_id must be a non-empty string");
  if (typeof r.spec !== "string") throw new Error("start request: spec must be a string");
  if (!Array.isArray(r.argv) || r.argv.length === 0 || !r.argv.every((a) => typeof a === "string"))
    throw new Error("start request: argv must be a non-empty array of strings");
  if (r.vars !== undefined && !isStringRecord(r.vars))
    throw new Error("start request: vars must map names to strings");
  if (r.env !== undefined && !isStringRecord(r.env))
    throw new Error("start request: env must map names to strings");
  return {
    run_id: r.run_id,
    task_id: r.task_id,
    spec: r.spec,
    argv: r.argv as string[],
    vars: (r.vars as Record<string, string>) ?? {},
    env: r.env as Record<string, string> | undefined,
  };
}
