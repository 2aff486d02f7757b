import type { ArgDef } from "citty";
import { CliError, EXIT_USAGE } from "./errors.ts";

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
  output: {
    type: "string",
    alias: "o",
    description: "Output format: wide (same as --wide)",
    valueHint: "wide",
  },
} as const satisfies Record<string, ArgDef>;

/** `--wide` or `-o wide`; any other `-o` value is a usage error (exit 2). */
export function wantsWide(args: { wide?: boolean; output?: string }): boolean {
  if (args.output !== undefined && args.output !== "wide")
    throw new CliError(`-o/--output takes only "wide", got ${JSON.stringify(args.output)}`, EXIT_USAGE);
  return Boolean(args.wide) || args.output === "wide";
}

const EXAMPLES = new WeakMap<object, string[]>();

/** Attach usage examples shown by `--help` (citty's meta has no place for them). */
export function withExamples<T extends object>(cmd: T, examples: string[]): T {
  EXAMPLES.set(cmd, examples);
  return cmd;
}

export function examplesOf(cmd: object): string[] {
  return EXAMPLES.get(cmd) ?? [];
}
