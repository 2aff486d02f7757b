import type { Db } from "./db.ts";

/** What `oyster run --until-done` shows each second: tasks by state and what runs where. */
export interface Progress {
  counts: Record<string, number>;
  running: { node: string; task_id: string; started_at: number | null }[];
}

export function progress(db: Db): Progress {
  const counts: Record<string, number> = {};
  for (const r of db.query("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status").all() as {
    status: string;
    n: number;
  }[])
    counts[r.status] = r.n;
  const running = db
    .query(
      "SELECT node, task_id, started_at FROM runs WHERE state IN ('launching','dispatched','running') ORDER BY node, created_at",
    )
    .all() as Progress["running"];
  return { counts, running };
}

/** Nothing left that could still change without an operator. */
export function isSettled(p: Progress): boolean {
  return !["pending", "dispatched", "running", "failed"].some((s) => (p.counts[s] ?? 0) > 0);
}
