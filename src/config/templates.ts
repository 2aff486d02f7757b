/**
 * Which `{placeholder}`s each argv template in the config knows, and the rule that keeps their
 * values out of shell scripts. Pure: no I/O, so the rule is tested with plain values.
 *
 * Substitution (src/node/template.ts) puts a value inside one argv element and the argv is exec'd
 * without a shell, so a value can never split into several arguments. That guarantee ends when
 * the element is itself a script: in `["sh", "-c", "echo {project} done"]` the project name
 * becomes shell code. So a template whose argv runs a shell or an interpreter with inline code
 * may not put a placeholder inside that code; the value is read from the environment instead
 * (`"$OYSTER_PROJECT"`), where the shell treats it as data.
 *
 * The one exception: an executor whose script element is exactly `{command}` (the built-in
 * `shell` executor, `["sh", "-c", "{command}"]`) — the task's command IS the script the operator
 * asked to run. `{command}` with any other text around it, or any other placeholder, is refused.
 */

/** Placeholders of `executors.*.command`: the start request's vars plus the node's own paths. */
export const EXECUTOR_PLACEHOLDERS = [
  "spec",
  "run_dir",
  "output",
  "task_id",
  "run_id",
  "project",
  "attempt",
  "priority",
  "command",
] as const;

/** Placeholders of each factory hook (src/loops/factory.ts passes exactly these). */
export const HOOK_PLACEHOLDERS = {
  generate: ["inbox", "pending"],
  on_project_complete: ["project", "inbox"],
  research: ["inbox"],
} as const satisfies Record<string, readonly string[]>;

/** The environment variable that carries a placeholder's value: `task_id` → `OYSTER_TASK_ID`. */
export function placeholderEnvName(name: string): string {
  return `OYSTER_${name.toUpperCase()}`;
}

/** `{ task_id: "a" }` → `{ OYSTER_TASK_ID: "a" }`: set wherever a template is executed. */
export function placeholderEnv(vars: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(vars).map(([k, v]) => [placeholderEnvName(k), v]));
}

/** Programs whose `-c` argument is shell code. */
const SHELLS = new Set(["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "fish", "csh", "tcsh"]);
/** Interpreters and the flags whose next argument is code. */
const INTERPRETERS: [RegExp, Set<string>][] = [
  [/^python[0-9.]*$/, new Set(["-c"])],
  [/^perl[0-9.]*$/, new Set(["-e", "-E"])],
  [/^ruby[0-9.]*$/, new Set(["-e"])],
  [/^(node|nodejs|bun|deno)$/, new Set(["-e", "--eval", "-p", "--print"])],
];
/** Shell options that take the next argument as their value (`-o pipefail`). */
const SHELL_OPTS_WITH_VALUE = new Set(["-o", "+o", "-O", "+O", "--rcfile", "--init-file"]);

export interface ScriptSlot {
  /** Index of the argv element that is code. */
  index: number;
  /** Index of the program that runs it (`sh`, `bash`, `python3`, …). */
  program: number;
}

function baseName(arg: string): string {
  const slash = arg.lastIndexOf("/");
  return slash === -1 ? arg : arg.slice(slash + 1);
}

/**
 * The argv elements that a shell or interpreter runs as code. The program may come after a
 * wrapper (`env sh -c`, `nice -n 5 bash -c`, `busybox sh -c`), so every element is considered.
 * Shells: after an option group holding `c` (`-c`, `-ec`, `-lc`), the first argument that is
 * not an option (or an option's value, as in `-o pipefail`) is the script; later arguments are
 * `$0 $1 …`, which are data and may hold placeholders.
 */
export function scriptSlots(argv: readonly string[]): ScriptSlot[] {
  const slots: ScriptSlot[] = [];
  argv.forEach((arg, program) => {
    const name = baseName(arg);
    if (SHELLS.has(name)) {
      let sawC = false;
      for (let i = program + 1; i < argv.length; i++) {
        const a = argv[i]!;
        if (a === "--") continue;
        if (SHELL_OPTS_WITH_VALUE.has(a)) {
          i++;
          continue;
        }
        if (/^--[A-Za-z][A-Za-z-]*$/.test(a)) continue;
        if (/^[-+][A-Za-z]+$/.test(a)) {
          if (a.startsWith("-") && a.includes("c")) sawC = true;
          // `-euo pipefail`: an `o`/`O` in the group takes the next argument as its value.
          if (/[oO]/.test(a)) i++;
          continue;
        }
        if (sawC) slots.push({ index: i, program });
        break;
      }
      return;
    }
    const interp = INTERPRETERS.find(([re]) => re.test(name));
    if (!interp) return;
    for (let i = program + 1; i < argv.length - 1; i++) {
      if (interp[1].has(argv[i]!)) {
        slots.push({ index: i + 1, program });
        break;
      }
    }
  });
  return slots;
}

/** `{name}` occurrences in one argv element that name a known placeholder. */
export function placeholdersIn(arg: string, known: readonly string[]): string[] {
  const found: string[] = [];
  for (const m of arg.matchAll(/\{([A-Za-z0-9_]+)\}/g)) {
    const name = m[1]!;
    if (known.includes(name) && !found.includes(name)) found.push(name);
  }
  return found;
}

export interface TemplateProblem {
  /** Index of the offending argv element. */
  index: number;
  message: string;
}

/**
 * Problems of one argv template: a known placeholder inside code run by a shell or interpreter.
 * `allowWholeCommand` is the executor exception: a script that is exactly `{command}`.
 */
export function checkTemplate(
  argv: readonly string[],
  known: readonly string[],
  allowWholeCommand = false,
): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  for (const slot of scriptSlots(argv)) {
    const script = argv[slot.index]!;
    if (allowWholeCommand && script === "{command}") continue;
    const names = placeholdersIn(script, known);
    if (!names.length) continue;
    const list = names.map((n) => `{${n}}`).join(", ");
    const env = names.map((n) => `"$${placeholderEnvName(n)}"`).join(", ");
    const program = argv[slot.program]!;
    problems.push({
      index: slot.index,
      message:
        `${list} inside the code that ${JSON.stringify(program)} runs would let a value become code ` +
        `(a project named "x; rm -rf ~ #" runs rm). Read the value from the environment instead: ` +
        `${env}${allowWholeCommand ? " (only a script that is exactly {command} is allowed)" : ""}`,
    });
  }
  return problems;
}

/** The config's templates, as `[path, argv, known placeholders, allow {command}]`. */
export interface TemplateSite {
  path: (string | number)[];
  argv: readonly string[];
  known: readonly string[];
  allowWholeCommand: boolean;
}

export function templateSites(config: {
  executors: Record<string, { command: readonly string[] }>;
  factory: Record<keyof typeof HOOK_PLACEHOLDERS, readonly string[]>;
}): TemplateSite[] {
  const sites: TemplateSite[] = Object.entries(config.executors).map(([name, e]) => ({
    path: ["executors", name, "command"],
    argv: e.command,
    known: EXECUTOR_PLACEHOLDERS,
    allowWholeCommand: true,
  }));
  for (const [hook, known] of Object.entries(HOOK_PLACEHOLDERS)) {
    sites.push({
      path: ["factory", hook],
      argv: config.factory[hook as keyof typeof HOOK_PLACEHOLDERS],
      known,
      allowWholeCommand: false,
    });
  }
  return sites;
}
