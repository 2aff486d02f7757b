#!/usr/bin/env bun
import { type CommandDef, renderUsage, runCommand } from "citty";
import { configureLogging, isVerbose, logger } from "../log.ts";
import { terminalSafe } from "../terminal-safe.ts";
import { VERSION_STRING } from "../version.ts";
import { examplesOf } from "./common-args.ts";
import { CliError, EXIT_USAGE } from "./errors.ts";
import { main } from "./index.ts";
import { exitWhenFlushed, trackOutput } from "./output.ts";
import { checkCommandLine } from "./strict-args.ts";

/** Entry point of the `oyster` binary: global flags, help, and exit codes scripts can trust. */
async function run(rawArgs: string[]): Promise<number> {
  const fmt = flagValue(rawArgs, "--log-format");
  if (fmt !== undefined && fmt !== "json" && fmt !== "pretty") {
    process.stderr.write(`error: --log-format must be "pretty" or "json", got ${JSON.stringify(fmt)}\n`);
    return EXIT_USAGE;
  }
  configureLogging({
    verbose: rawArgs.includes("--verbose"),
    quiet: rawArgs.includes("--quiet"),
    format: fmt === "json" ? "json" : "pretty",
  });
  if (rawArgs.length === 1 && (rawArgs[0] === "--version" || rawArgs[0] === "-v")) {
    process.stdout.write(`${VERSION_STRING}\n`);
    return 0;
  }
  const [cmd, parent] = await resolve(main, rawArgs);
  if (rawArgs.length === 0 || rawArgs.includes("--help") || rawArgs.includes("-h")) {
    await printHelp(cmd, parent);
    return rawArgs.length === 0 ? EXIT_USAGE : 0;
  }
  try {
    await checkCommandLine(main, rawArgs);
    await runCommand(main, { rawArgs });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    return report(err, cmd, parent);
  }
}

async function report(err: unknown, cmd: CommandDef, parent?: CommandDef): Promise<number> {
  if (err instanceof CliError) {
    process.stderr.write(`error: ${terminalSafe(err.message, { keepNewlines: true })}\n`);
    if (isVerbose() && err.cause) logger().error(err.cause);
    return err.code;
  }
  if (err instanceof Error && err.name === "CLIError") {
    // citty's own parse errors (unknown command, missing argument) are usage errors.
    await printHelp(cmd, parent, process.stderr);
    process.stderr.write(`\nerror: ${terminalSafe(stripAnsi(err.message), { keepNewlines: true })}\n`);
    return EXIT_USAGE;
  }
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`error: ${terminalSafe(msg, { keepNewlines: true })}\n`);
  if (isVerbose()) logger().error(err);
  else process.stderr.write("(run with --verbose for details)\n");
  return 1;
}

async function printHelp(
  cmd: CommandDef,
  parent?: CommandDef,
  out: NodeJS.WriteStream = process.stdout,
): Promise<void> {
  let text = await renderUsage(cmd, parent);
  const examples = examplesOf(cmd);
  if (examples.length) text += `\n\nEXAMPLES\n\n${examples.map((e) => `  ${e}`).join("\n")}`;
  // citty colours unconditionally; honour NO_COLOR and pipes.
  if (process.env.NO_COLOR || !out.isTTY) text = stripAnsi(text);
  out.write(`${text}\n`);
}

/** Walk to the subcommand the args name, as citty does, so `oyster tasks show --help` works. */
async function resolve(
  cmd: CommandDef,
  args: string[],
  parent?: CommandDef,
): Promise<[CommandDef, CommandDef?]> {
  const subs = await value(cmd.subCommands);
  if (!subs) return [cmd, parent];
  const name = args.find((a) => !a.startsWith("-"));
  if (!name || !(name in subs)) return [cmd, parent];
  const sub = (await value(subs[name])) as CommandDef;
  return resolve(sub, args.slice(args.indexOf(name) + 1), cmd);
}

async function value<T>(v: T | (() => T | Promise<T>) | Promise<T>): Promise<T> {
  return typeof v === "function" ? await (v as () => T | Promise<T>)() : await v;
}

function flagValue(args: string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === flag) return args[i + 1];
    if (a.startsWith(`${flag}=`)) return a.slice(flag.length + 1);
  }
  return undefined;
}

function stripAnsi(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
  return s.replace(/\u001b\[[0-9;]*m/g, "");
}

// Long-running commands (run, supervise) resolve only when they are done, so exiting here is safe
// once what they printed has reached the reader (a pipe takes only 64 KiB before exit cuts it).
// (No top-level await: the binary is built as bytecode, which needs a plain script entry.)
trackOutput();
void run(process.argv.slice(2)).then((code) => exitWhenFlushed(code));
