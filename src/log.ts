import { type ConsolaInstance, createConsola, LogLevels } from "consola";

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
    // Logs go to stderr so stdout stays clean for --json output and pipes.
    root = createConsola({ level, stdout: process.stderr, stderr: process.stderr });
  }
}

export function isVerbose(): boolean {
  return verboseMode;
}

export function logger(tag?: string): ConsolaInstance {
  return tag ? root.withTag(tag) : root;
}
