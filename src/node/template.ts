export { placeholderEnv } from "../config/templates.ts";

/**
 * Executor argv templating: `{name}` placeholders replaced inside each argument, one pass, so a
 * value containing `{spec}` or shell metacharacters is inserted literally. The result is exec'd
 * directly — never joined into a shell line. An argument that a shell runs as code (`sh -c …`)
 * may hold no placeholder but an exact `{command}`: config load refuses the rest
 * (src/config/templates.ts), and every value is also in the environment as OYSTER_<NAME>.
 */
export function substitute(argv: readonly string[], vars: Readonly<Record<string, string>>): string[] {
  return argv.map((arg) =>
    arg.replace(/\{([A-Za-z0-9_]+)\}/g, (whole, name: string) =>
      Object.hasOwn(vars, name) ? (vars[name] as string) : whole,
    ),
  );
}
