import type { Db } from "./db.ts";
import { recordEvent } from "./events.ts";

/**
 * A pending task that can start on no node (pre_flight_check_failed): it ends `dead` at once,
 * without a run and without spending an attempt, since retrying the same spec on the same fleet
 * cannot help. `oyster tasks retry` puts it back once the fleet can run it. True when this call
 * ended it (a task that moved on meanwhile is left alone).
 */
export function failPreFlight(db: Db, taskId: string, detail: string, now: number): boolean {
  const changed = db
    .query(
      "UPDATE tasks SET status = 'dead', last_reason = 'pre_flight_check_failed', updated_at = ?, finished_at = ? WHERE task_id = ? AND status = 'pending'",
    )
    .run(now, now, taskId).changes;
  if (changed)
    recordEvent(
      db,
      { kind: "task_pre_flight_failed", source: "scheduler", task_id: taskId, data: { detail } },
      now,
    );
  return changed > 0;
}
