/**
 * The known name closest to a mistyped one, for "did you mean …?" advice on flags, spec keys and
 * config keys. Case and `-`/`_` are ignored (`--dryrun` → `dry-run`, `dependson` → `depends_on`);
 * a name counts as close within a third of its length in edits (at least one), so `--json` is
 * never offered for `--limit`.
 */
export function didYouMean(input: string, known: Iterable<string>): string | null {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, "");
  const a = norm(input);
  let best: string | null = null;
  let bestD = Number.POSITIVE_INFINITY;
  for (const k of known) {
    const d = distance(a, norm(k));
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  if (best === null) return null;
  return bestD <= Math.max(1, Math.floor(Math.max(a.length, norm(best).length) / 3)) ? best : null;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
export function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** ` (did you mean "x"?)` or nothing: for appending to an error message. */
export function suggestion(input: string, known: Iterable<string>, format = (s: string) => `"${s}"`): string {
  const m = didYouMean(input, known);
  return m === null ? "" : ` (did you mean ${format(m)}?)`;
}
