/**
 * Strict POSIX shell quoting for the one place a remote shell is unavoidable (an ssh exec line).
 * Everything is single-quoted; an embedded `'` becomes `'\''`. A leading `~/` stays expandable on
 * the remote by rendering it as `"$HOME"/'rest'`.
 */
export function quote(arg: string): string {
  if (arg === "") return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Quote a path, keeping a leading `~/` (or a bare `~`) as the remote user's $HOME. */
export function quotePath(p: string): string {
  if (p === "~") return `"$HOME"`;
  if (p.startsWith("~/")) {
    const rest = p.slice(2);
    return rest ? `"$HOME"/${quote(rest)}` : `"$HOME"/`;
  }
  return quote(p);
}

/**
 * Join argv into one shell line. Arguments that look like home-relative paths (`~/…`) expand on
 * the remote; everything else is literal.
 */
export function shellJoin(argv: readonly string[]): string {
  return argv.map((a) => (a === "~" || a.startsWith("~/") ? quotePath(a) : quote(a))).join(" ");
}
