import type { Endings } from "../store/progress.ts";

/** Lines per kind before the summary says "… and N more" (the store has the rest). */
const MAX_LINES = 50;

function capped(lines: string[]): string[] {
  if (lines.length <= MAX_LINES) return lines;
  return [...lines.slice(0, MAX_LINES), `  … and ${lines.length - MAX_LINES} more`];
}

/**
 * The last words of `oyster run --until-done`: one line of totals, then each dead task with its
 * last reason and attempts, and each blocked task with what it waits on, so the operator knows
 * what to fix or retry without a second command.
 */
export function formatEndings(counts: Record<string, number>, e: Endings): string {
  const bad = e.dead.length + e.blocked.length;
  if (bad === 0) {
    const cancelled = e.cancelled.length ? `, ${e.cancelled.length} cancelled` : "";
    return `done: all ${counts.succeeded ?? 0} task(s) succeeded${cancelled}\n`;
  }
  const parts = [
    e.dead.length ? `${e.dead.length} dead` : "",
    e.blocked.length ? `${e.blocked.length} blocked` : "",
    e.cancelled.length ? `${e.cancelled.length} cancelled` : "",
    `${counts.succeeded ?? 0} succeeded`,
  ].filter(Boolean);
  const lines = [`done: nothing more can run — ${parts.join(", ")}`];
  lines.push(
    ...capped(
      e.dead.map(
        (d) =>
          `  dead     ${d.task_id}: ${d.last_reason ?? "no reason recorded"}, ${d.attempts}/${d.max_attempts} attempts`,
      ),
    ),
  );
  lines.push(
    ...capped(
      e.blocked.map(
        (b) => `  blocked  ${b.task_id}: waits on ${b.blocked_by ?? "?"} (${b.blocker_status ?? "missing"})`,
      ),
    ),
  );
  return `${lines.join("\n")}\n`;
}
