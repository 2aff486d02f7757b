import { type ConsolaInstance, createConsola, LogLevels } from "consola";
import { terminalSafe } from "./terminal-safe.ts";

/**
 * One place that configures consola for the whole process. Loops and modules ask for a tagged
 * logger (`logger("reaper")`) so JSON logs can be filtered by `tag`.
 * Fixed field names for structured context: task, run, node, loop.
 */
export type LogFormat = "pretty" | "json";

export interface LogOptions {
  verbose?: boolean;
  quiet?: boolean;
  format?: LogFormat;
}

let root: ConsolaInstance = createConsola({ level: LogLevels.info, stdout: process.stderr });
let verboseMode = false;

export function configureLogging(opts: LogOptions): void {
  const level = opts.verbose ? LogLevels.debug : opts.quiet ? LogLevels.warn : LogLevels.info;
  verboseMode = Boolean(opts.verbose);
  if (opts.format === "json") {
    root = createConsola({
      level,
      reporters: [
        {
          log(obj) {
            const [msg, ...rest] = obj.args;
            const line: Record<string, unknown> = {
              time: obj.date.toISOString(),
              level: obj.type,
              tag: obj.tag || undefined,
              msg: msg instanceof Error ? msg.message : String(msg),
            };
            for (const extra of rest) {
              if (extra && typeof extra === "object" && !(extra instanceof Error)) Object.assign(line, extra);
            }
            process.stderr.write(`${JSON.stringify(line)}\n`);
          },
        },
      ],
    });
  } else {
    // Logs go to stderr so stdout stays clean for --json output and pipes. Structured context
    // objects are for JSON logs; people get one plain line.
    const color = !process.env.NO_COLOR && process.stderr.isTTY;
    const paint = (code: number, s: string) => (color ? `\u001b[${code}m${s}\u001b[0m` : s);
    const LABEL: Record<string, string> = {
      fatal: paint(31, "FATAL"),
      error: paint(31, "ERROR"),
      warn: paint(33, "WARN "),
      info: paint(36, "INFO "),
      success: paint(32, "OK   "),
      debug: paint(90, "DEBUG"),
      trace: paint(90, "TRACE"),
    };
    root = createConsola({
      level,
      reporters: [
        {
          log(obj) {
            const parts: string[] = [];
            let stack = "";
            for (const a of obj.args) {
              if (a instanceof Error) {
                parts.push(a.message);
                if (verboseMode && a.stack) stack = `\n${terminalSafe(a.stack, { keepNewlines: true })}`;
              } else if (typeof a !== "object" || a === null) parts.push(String(a));
            }
            const time = obj.date.toISOString().slice(11, 19);
            const tag = obj.tag ? paint(90, `[${obj.tag}] `) : "";
            // One event, one line: values from specs and nodes can neither colour nor forge lines.
            const msg = terminalSafe(parts.join(" "));
            process.stderr.write(`${paint(90, time)} ${LABEL[obj.type] ?? obj.type} ${tag}${msg}${stack}\n`);
          },
        },
      ],
    });
  }
}

export function isVerbose(): boolean {
  return verboseMode;
}

export function logger(tag?: string): ConsolaInstance {
  return tag ? root.withTag(tag) : root;
}
