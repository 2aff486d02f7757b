import type { ArgDef } from "citty";

/** Flags every command accepts. Logging flags are applied in main.ts before the command runs. */
export const sharedArgs = {
  config: { type: "string", description: "Path to oyster.yaml (default: $OYSTER_CONFIG or ./oyster.yaml)" },
  verbose: { type: "boolean", description: "Debug logs and stack traces" },
  quiet: { type: "boolean", description: "Only warnings and errors" },
  "log-format": { type: "string", description: "Log format: pretty or json", valueHint: "pretty|json" },
} as const satisfies Record<string, ArgDef>;

export const jsonArg = {
  json: { type: "boolean", description: "Machine-readable JSON on stdout" },
} as const satisfies Record<string, ArgDef>;

export const wideArg = {
  wide: { type: "boolean", description: "More columns (like kubectl -o wide)" },
} as const satisfies Record<string, ArgDef>;

const EXAMPLES = new WeakMap<object, string[]>();

/** Attach usage examples shown by `--help` (citty's meta has no place for them). */
export function withExamples<T extends object>(cmd: T, examples: string[]): T {
  EXAMPLES.set(cmd, examples);
  return cmd;
}

export function examplesOf(cmd: object): string[] {
  return EXAMPLES.get(cmd) ?? [];
}
