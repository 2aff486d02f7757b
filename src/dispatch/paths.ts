/**
 * `modifies` means paths (issue 13.6), pure. `./src/a.ts`, `src/a.ts` and `src//a.ts` name the
 * same file, so they are one lock; and a path locks everything under it, so `src/` (or `src`)
 * conflicts with `src/x/y.ts`. Paths are compared by their segments, never as strings: `src`
 * and `src2/a.ts` do not conflict.
 */

/** The whole tree, as `.`, `./` or `` normalise to: it conflicts with every relative path. */
export const WHOLE_TREE = ".";

/**
 * One spelling per path: `.` segments and repeated or trailing slashes dropped, `a/../b`
 * folded to `b` (a leading `..` is kept; it names something outside the tree, still a path).
 * An absolute path stays absolute: `/etc/x` and `etc/x` are different files.
 */
export function normalizeModifiesPath(raw: string): string {
  const absolute = raw.startsWith("/");
  const out: string[] = [];
  for (const seg of raw.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === ".." && out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else if (seg === ".." && absolute)
      continue; // `/..` is `/`
    else out.push(seg);
  }
  if (absolute) return `/${out.join("/")}`;
  return out.length ? out.join("/") : WHOLE_TREE;
}

/** Every path that contains `p` (its directories up to the root), nearest last; `p` excluded. */
function ancestorsOf(p: string): string[] {
  const absolute = p.startsWith("/");
  const root = absolute ? "/" : WHOLE_TREE;
  if (p === root) return [];
  const segs = (absolute ? p.slice(1) : p).split("/");
  const out = [root];
  for (let i = 1; i < segs.length; i++) out.push(`${absolute ? "/" : ""}${segs.slice(0, i).join("/")}`);
  return out;
}

/** Do two `modifies` paths conflict: the same path, or one lies under the other. */
export function pathsConflict(a: string, b: string): boolean {
  const x = normalizeModifiesPath(a);
  const y = normalizeModifiesPath(b);
  return x === y || ancestorsOf(x).includes(y) || ancestorsOf(y).includes(x);
}

/**
 * A set of held path locks that answers "would this path conflict?" in O(depth): the held
 * paths themselves, and every directory above one (a path there holds something under it).
 */
export class PathLocks {
  private readonly held = new Map<string, string>();
  /** A directory above a held path → that held path and its holder. */
  private readonly above = new Map<string, { path: string; holder: string }>();

  /** `paths` with an optional holder each (a task id), so a conflict can name who holds it. */
  constructor(paths: Iterable<string> = [], holder = "") {
    for (const p of paths) this.add(p, holder);
  }

  add(path: string, holder = ""): void {
    const p = normalizeModifiesPath(path);
    this.held.set(p, holder);
    for (const a of ancestorsOf(p)) if (!this.above.has(a)) this.above.set(a, { path: p, holder });
  }

  /** The held path this one conflicts with (and its holder), or null when it is free. */
  conflict(path: string): { path: string; holder: string } | null {
    const p = normalizeModifiesPath(path);
    const same = this.held.get(p);
    if (same !== undefined) return { path: p, holder: same };
    for (const a of ancestorsOf(p)) {
      const h = this.held.get(a);
      if (h !== undefined) return { path: a, holder: h };
    }
    return this.above.get(p) ?? null;
  }

  conflicts(path: string): boolean {
    return this.conflict(path) !== null;
  }
}
