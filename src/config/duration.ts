/**
 * Durations in config and specs are strings like `500ms`, `2s`, `5m`, `1h`, `1d`. A number needs
 * its unit: a bare `300` was read as 300 ms, and a task meant to get 300 s was killed as a
 * timeout after 0.3 s. Only `0` may go without one — zero is zero in every unit (it means "off"
 * or "at once" where a field allows it).
 */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export type DurationResult = { ms: number } | { error: string };

export function checkDuration(input: unknown): DurationResult {
  const text = typeof input === "number" ? String(input) : typeof input === "string" ? input.trim() : null;
  if (text === null) return { error: `expected a duration like "500ms", "2s" or "5m"` };
  if (/^-/.test(text)) return { error: `${text} is negative: a duration is 0 or more` };
  const bare = /^\d+(?:\.\d+)?$/.exec(text);
  if (bare) {
    const n = Number(text);
    if (n === 0) return { ms: 0 };
    const alt = n % 60 === 0 ? `${n / 60}m` : `${text}ms`;
    return { error: `${text} has no unit: write ${text}s or ${alt}` };
  }
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(text);
  if (!m) return { error: `expected a duration like "500ms", "2s" or "5m", got ${JSON.stringify(input)}` };
  const value = Number(m[1]) * (UNITS[m[2]!] ?? 1);
  if (!Number.isFinite(value)) return { error: `${text} is too large` };
  return { ms: Math.round(value) };
}

/** Milliseconds, or null when `input` is not a duration with a unit (see checkDuration). */
export function parseDuration(input: string | number): number | null {
  const r = checkDuration(input);
  return "ms" in r ? r.ms : null;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 ? ` ${s % 60}s` : ""}`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}
