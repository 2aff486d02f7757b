import type { Waiting } from "../dispatch/waiting.ts";
import type { TaskListItem } from "../store/tasks.ts";

const iso = (ms: number | null) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** One task for `--json` and `/api/tasks`: every epoch-ms time with its ISO 8601 beside it, and why it waits. */
export function taskJson<
  T extends Pick<
    TaskListItem,
    "task_id" | "status" | "created_at" | "updated_at" | "finished_at" | "not_before"
  >,
>(t: T, waiting: ReadonlyMap<string, Waiting>) {
  return {
    ...t,
    created_at_iso: iso(t.created_at),
    updated_at_iso: iso(t.updated_at),
    finished_at_iso: iso(t.finished_at),
    not_before_iso: t.not_before ? iso(t.not_before) : null,
    waiting: t.status === "pending" ? (waiting.get(t.task_id) ?? null) : null,
  };
}
