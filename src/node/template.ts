/**
 * Executor argv templating: `{name}` placeholders replaced inside each argument, one pass, so a
 * value containing `{spec}` or shell metacharacters is inserted literally. The result is exec'd
 * directly — never joined into a shell line.
 */
export function substitute(argv: readonly string[], vars: Readonly<Record<string, string>>): string[] {
  return argv.map((arg) =>
    arg.replace(/\{([A-Za-z0-9_]+)\}/g, (whole, name: string) =>
      Object.hasOwn(vars, name) ? (vars[name] as string) : whole,
    ),
  );
}
