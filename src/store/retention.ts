import { FINAL_RUN_STATES, sqlIn } from "../dispatch/states.ts";
import type { Db } from "./db.ts";

/** Only runs that are over in the store may have their directories removed. */
const FINAL_SQL = sqlIn(FINAL_RUN_STATES);
const KEY = "COALESCE(finished_at, created_at)";

export interface PrunePolicy {
  /** Finished longer ago than this goes (0: never by age). */
  olderThanMs: number;
  /** Beyond the newest this many finished runs on the node goes (0: no count limit). */
  keep: number;
}

/**
 * The finished runs of `node` whose directories retention removes, oldest first, after the key
 * `after` (the watermark of the last batch) and at most `limit` of them. A run goes when it
 * finished more than `olderThanMs` ago OR is beyond the newest `keep` finished ones: both are a
 * prefix of the runs ordered by when they finished, so one cutoff covers them. Runs that are not
 * final in the store are never returned.
 */
export function prunableRuns(
  db: Db,
  node: string,
  policy: PrunePolicy,
  now: number,
  after: number,
  limit: number,
): { run_id: string; key: number }[] {
  let cutoff = policy.olderThanMs > 0 ? now - policy.olderThanMs : Number.NEGATIVE_INFINITY;
  if (policy.keep > 0) {
    const kth = db
      .query(
        `SELECT ${KEY} AS k FROM runs WHERE node = ? AND state IN ${FINAL_SQL} ORDER BY k DESC LIMIT 1 OFFSET ?`,
      )
      .get(node, policy.keep - 1) as { k: number } | null;
    // Fewer than `keep` finished runs: none is beyond the count.
    if (kth) cutoff = Math.max(cutoff, kth.k);
  }
  if (cutoff === Number.NEGATIVE_INFINITY) return [];
  return db
    .query(
      `SELECT run_id, ${KEY} AS key FROM runs WHERE node = ? AND state IN ${FINAL_SQL} AND ${KEY} > ? AND ${KEY} < ? ORDER BY key ASC LIMIT ?`,
    )
    .all(node, after, cutoff, limit) as { run_id: string; key: number }[];
}
