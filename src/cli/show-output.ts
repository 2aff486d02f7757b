import type { Config } from "../config/schema.ts";
import { lastLines } from "../output/node-reader.ts";
import { SafeTextDecoder } from "../output/safe-bytes.ts";
import type { RunRow } from "../store/runs.ts";
import { terminalSafe } from "../terminal-safe.ts";

/** Lines of a failed run's output that `tasks show` prints (issue 13.1). */
export const SHOW_TAIL_LINES = 20;

/**
 * The last lines of the task's latest run when that run failed, read from its node; a node that
 * cannot be reached costs one line saying why, never the rest of `tasks show`.
 */
export async function failedOutputTail(config: Config, runs: readonly RunRow[]): Promise<string[]> {
  const latest = [...runs].sort((a, b) => b.attempt - a.attempt)[0];
  if (latest?.state !== "failed") return [];
  const head = `output of run ${latest.run_id} (last ${SHOW_TAIL_LINES} lines; all of it: oyster logs ${latest.task_id} --run ${latest.run_id}):`;
  try {
    const bytes = await lastLines(config, latest, SHOW_TAIL_LINES);
    const d = new SafeTextDecoder();
    const text = (d.push(bytes) + d.end()).replace(/\n$/, "");
    return ["", terminalSafe(head), ...(text ? text.split("\n").map((l) => `  ${l}`) : ["  (empty)"])];
  } catch (err) {
    return ["", terminalSafe(`${head} unavailable: ${(err as Error).message}`)];
  }
}
