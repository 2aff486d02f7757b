import { terminalSafe } from "../terminal-safe.ts";

/**
 * Aligned columns for people (`--json` is for scripts). Hand-written on purpose: the tables here
 * are plain whitespace-aligned like `docker compose ps`, which is ten lines, not a dependency.
 * Every cell is made terminal-safe: ids, names and reasons come from specs and nodes.
 */
export function formatTable(
  headers: string[],
  rows: (string | number | null | undefined)[][],
  /** Colours a cell after it was made safe (ANSI codes do not count in the widths). */
  paint?: (column: number, safe: string) => string,
): string {
  const cells = [
    headers,
    ...rows.map((r) =>
      r.map((c, i) => {
        const safe = c === null || c === undefined ? "-" : terminalSafe(String(c));
        return paint ? paint(i, safe) : safe;
      }),
    ),
  ];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => displayWidth(r[i] ?? ""))));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c + " ".repeat((widths[i] ?? 0) - displayWidth(c))))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function displayWidth(s: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
  return s.replace(/\u001b\[[0-9;]*m/g, "").length;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Human age like `3s`, `2h 15m` from a timestamp in ms. */
export function ago(ts: number | null | undefined, now = Date.now()): string {
  if (!ts) return "-";
  const s = Math.max(0, Math.round((now - ts) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
