import type { Waiting } from "../dispatch/waiting.ts";
import type { TaskListItem } from "../store/tasks.ts";
import { colourEnabled, paintStatus } from "./colour.ts";
import { ago, formatTable } from "./table.ts";

/**
 * `oyster tasks` as a table (like `squeue`): REASON says why a pending task waits, from the
 * scheduler's own decision; `--wide` adds what it modifies, its timeout, the reason's detail and
 * the last error. Times are relative here; `--json` carries ISO 8601 beside the epoch-ms fields.
 */
export interface TaskListView {
  rows: TaskListItem[];
  waiting: ReadonlyMap<string, Waiting>;
  modifies?: ReadonlyMap<string, string[]>;
}

export function formatTaskList(
  v: TaskListView,
  opts: { wide?: boolean; now?: number; colour?: boolean } = {},
): string {
  const now = opts.now ?? Date.now();
  const colour = opts.colour ?? colourEnabled();
  const headers = ["TASK", "STATUS", "PRI", "PROJECT", "ATTEMPTS", "NODE", "UPDATED", "REASON"];
  if (opts.wide) headers.push("MODIFIES", "TIMEOUT", "DETAIL", "LAST ERROR");
  const rows = v.rows.map((t) => {
    const w = v.waiting.get(t.task_id);
    const row: (string | number | null)[] = [
      t.task_id,
      // Still running until the controller has sent the kill: say a cancel is on its way.
      t.cancel_requested_at !== null && (t.status === "running" || t.status === "dispatched")
        ? `${t.status} (cancelling)`
        : t.status,
      t.priority,
      t.project || "-",
      `${t.attempts}/${t.max_attempts}`,
      t.node,
      `${ago(t.updated_at, now)} ago`,
      t.status === "pending" ? (w?.reason ?? "-") : "-",
    ];
    if (opts.wide)
      row.push(
        v.modifies?.get(t.task_id)?.join(",") || "-",
        t.timeout_ms ? `${Math.round(t.timeout_ms / 1000)}s` : "-",
        t.status === "pending" && w?.detail ? w.detail : t.blocked_by ? `blocked by ${t.blocked_by}` : "-",
        t.last_reason ?? "-",
      );
    return row;
  });
  return formatTable(headers, rows, (col, cell) => (col === 1 ? paintStatus(cell, colour) : cell));
}
