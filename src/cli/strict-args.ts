import type { ArgsDef, CommandDef } from "citty";
import { suggestion } from "../did-you-mean.ts";
import { usageError } from "./errors.ts";

/**
 * One check of the whole command line against the commands' own citty argument definitions,
 * before anything runs. citty ignores what it does not know, so `oyster submit specs/ --dryrun`
 * submitted for real and `oyster tasks cancel m1 m2` cancelled m1 only; here an unknown flag, a
 * value on a boolean (`--json=maybe`), a missing value, a surplus positional or a flag placed
 * before a subcommand (where citty drops it) is a usage error (exit 2) with a did-you-mean.
 */

/** Commands whose last positional takes any number of values (they read `args._`). */
const MANY = new WeakSet<object>();

export function takesMany<T extends object>(cmd: T): T {
  MANY.add(cmd);
  return cmd;
}

/** Read by main.ts from anywhere on the line, so every command accepts them. */
const GLOBAL_FLAGS: ArgsDef = {
  verbose: { type: "boolean" },
  quiet: { type: "boolean" },
  "log-format": { type: "string" },
  help: { type: "boolean", alias: "h" },
};

type Kind = "boolean" | "string";

interface Flags {
  long: Map<string, { name: string; kind: Kind }>;
  short: Map<string, { name: string; kind: Kind }>;
  positionals: string[];
}

const kebab = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
const camel = (s: string) => s.replace(/[-_]([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function flagsOf(...defs: ArgsDef[]): Flags {
  const flags: Flags = { long: new Map(), short: new Map(), positionals: [] };
  for (const def of defs) {
    for (const [name, d] of Object.entries(def)) {
      if (d.type === "positional") {
        flags.positionals.push(name);
        continue;
      }
      const spec = { name, kind: (d.type === "boolean" ? "boolean" : "string") as Kind };
      // citty accepts the name as written, camelCased and kebab-cased, and every alias.
      for (const n of [name, camel(name), kebab(name)]) flags.long.set(n, spec);
      const aliases = "alias" in d && d.alias !== undefined ? [d.alias].flat() : [];
      for (const a of aliases) (a.length === 1 ? flags.short : flags.long).set(a, spec);
    }
  }
  return flags;
}

/**
 * Check one command's tokens. Returns the positionals, or throws a usage error naming the token.
 * `where` is the command as typed (`oyster tasks show`), for the message.
 */
export function checkTokens(
  tokens: readonly string[],
  def: ArgsDef,
  opts: { many?: boolean; where: string },
): string[] {
  const flags = flagsOf(GLOBAL_FLAGS, def);
  const help = `; see \`${opts.where} --help\``;
  const unknown = (flag: string) =>
    usageError(
      `unknown flag ${flag} for \`${opts.where}\`${suggestion(
        flag.replace(/^-+/, ""),
        [...flags.long.keys()].filter((k) => k === kebab(k)),
        (s) => `--${s}`,
      )}${help}`,
    );
  const positionals: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === "--") {
      positionals.push(...tokens.slice(i + 1));
      break;
    }
    if (t.startsWith("--")) {
      const eq = t.indexOf("=");
      const name = eq === -1 ? t.slice(2) : t.slice(2, eq);
      const negated = name.startsWith("no-") && flags.long.get(name.slice(3))?.kind === "boolean";
      const spec = flags.long.get(negated ? name.slice(3) : name);
      if (!spec) throw unknown(`--${name}`);
      if (spec.kind === "boolean") {
        const v = eq === -1 ? null : t.slice(eq + 1);
        if (v !== null && (negated || (v !== "true" && v !== "false")))
          throw usageError(`--${spec.name} is a switch and takes no value, got ${JSON.stringify(t)}${help}`);
      } else if (negated) {
        throw unknown(t);
      } else if (eq === -1) {
        if (i + 1 >= tokens.length) throw usageError(`--${spec.name} needs a value${help}`);
        i++;
      }
      continue;
    }
    if (t.startsWith("-") && t.length > 1) {
      // A group of one-letter flags (`-fn 50`); a string flag takes the rest or the next token.
      for (let j = 1; j < t.length; j++) {
        const spec = flags.short.get(t[j]!);
        if (!spec) throw unknown(`-${t[j]}`);
        if (spec.kind === "string") {
          if (j === t.length - 1) {
            if (i + 1 >= tokens.length) throw usageError(`-${t[j]} (--${spec.name}) needs a value${help}`);
            i++;
          }
          break;
        }
      }
      continue;
    }
    positionals.push(t);
  }
  const max = opts.many ? Number.POSITIVE_INFINITY : flags.positionals.length;
  if (positionals.length > max) {
    const surplus = positionals.slice(max).map((p) => JSON.stringify(p));
    const takes = flags.positionals.length
      ? `it takes one ${flags.positionals.map((p) => p.toUpperCase()).join(" ")}`
      : "it takes no arguments";
    throw usageError(`unexpected argument ${surplus.join(" ")} for \`${opts.where}\` (${takes})${help}`);
  }
  return positionals;
}

type Resolvable<T> = T | Promise<T> | (() => T | Promise<T>);

async function value<T>(v: Resolvable<T>): Promise<T> {
  return typeof v === "function" ? await (v as () => T | Promise<T>)() : await v;
}

/** As citty finds a subcommand name: the first token that is neither a flag nor a flag's value. */
function subCommandIndex(tokens: readonly string[], flags: Flags): number {
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === "--") return -1;
    if (t.startsWith("-")) {
      if (!t.includes("=") && flags.long.get(t.replace(/^-{1,2}/, ""))?.kind === "string") i++;
      else if (/^-[A-Za-z]$/.test(t) && flags.short.get(t[1]!)?.kind === "string") i++;
      continue;
    }
    return i;
  }
  return -1;
}

/** Walk the command line as citty will and check every level; throws a usage CliError. */
export async function checkCommandLine(root: CommandDef, rawArgs: readonly string[]): Promise<void> {
  let cmd = root;
  let tokens = rawArgs;
  let where = "oyster";
  for (;;) {
    const def = (cmd.args ? await value(cmd.args) : {}) as ArgsDef;
    const subs = cmd.subCommands ? await value(cmd.subCommands) : undefined;
    if (subs && Object.keys(subs).length) {
      const idx = subCommandIndex(tokens, flagsOf(GLOBAL_FLAGS, def));
      if (idx >= 0) {
        const name = tokens[idx]!;
        // Flags before a subcommand's name belong to the parent, which ignores them.
        const before = tokens.slice(0, idx);
        checkTokens(before, def, { where, many: true });
        const sub = Object.hasOwn(subs, name) ? subs[name] : undefined;
        if (!sub) {
          const names = await visibleNames(subs);
          throw usageError(
            `unknown command "${name}" for \`${where}\`${suggestion(name, names)} (commands: ${names.join(", ")})`,
          );
        }
        const misplaced = before.find((t) => t.startsWith("-") && !isGlobal(t));
        if (misplaced)
          throw usageError(`${misplaced} must come after the command: \`${where} ${name} ${misplaced}\``);
        cmd = (await value(sub)) as CommandDef;
        tokens = tokens.slice(idx + 1);
        where = `${where} ${name}`;
        continue;
      }
      const fallback = cmd.default ? await value(cmd.default) : undefined;
      if (fallback && Object.hasOwn(subs, fallback)) {
        cmd = (await value(subs[fallback]!)) as CommandDef;
        continue;
      }
    }
    checkTokens(tokens, def, { many: MANY.has(cmd), where });
    return;
  }
}

/** The subcommands help lists: a hidden one (`supervise serve`, citty's default) is not offered. */
async function visibleNames(subs: Record<string, Resolvable<CommandDef>>): Promise<string[]> {
  const out: string[] = [];
  for (const [name, sub] of Object.entries(subs)) {
    const meta = await value((await value(sub)).meta ?? {});
    if (!(meta as { hidden?: boolean }).hidden) out.push(name);
  }
  return out;
}

function isGlobal(token: string): boolean {
  const name = token.replace(/^-{1,2}/, "").split("=")[0]!;
  return name in GLOBAL_FLAGS || name === "h";
}
