import { spawn, spawnSync } from "node:child_process";

/**
 * Starting child processes, in one place. Built on `node:child_process` rather than `Bun.spawn`
 * or `Deno.Command`: Bun and Deno both implement it, with what the callers rely on behaving the
 * same in each (checked against Bun 1.4 and Deno 2.9): `detached` is setsid (pgid = sid = pid),
 * an open fd is handed to the child as its stdout/stderr, `unref` lets this process exit first,
 * and the exit reports a code or a signal. In Bun it is a layer over Bun.spawn, so Bun still
 * reaps its own children (the supervisor's waitpid of adopted orphans never meets them).
 */

/** One of the child's stdin, stdout, stderr: this process's own, a pipe, /dev/null, or an open fd. */
export type Stdio = "inherit" | "pipe" | "ignore" | number;

export interface SpawnOptions {
  cwd?: string;
  /** The child's whole environment (default: this process's). */
  env?: Record<string, string | undefined>;
  /** stdin, stdout, stderr (default: all ignored). */
  stdio?: [Stdio, Stdio, Stdio];
  /** Its own session and process group (setsid): its pid is its group id, signals reach its descendants. */
  detached?: boolean;
  /** SIGKILL the child (not its group) when it runs longer than this. */
  timeoutMs?: number;
}

/** How a child ended: an exit code, or the signal that killed it. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  pid: number;
  /**
   * Resolves when the child itself exits, not when its pipes close: a grandchild that kept
   * stdout open must not hide the exit.
   */
  exited: Promise<Exit>;
  /**
   * The child's output where its stdio said "pipe", else null. Start reading at once (before
   * awaiting anything else): as in Node, what nobody is reading when the child exits is dropped.
   */
  stdout: AsyncIterable<Uint8Array> | null;
  stderr: AsyncIterable<Uint8Array> | null;
  /** Let this process exit while the child runs on. */
  unref(): void;
}

/**
 * Start `argv[0]` (searched in PATH, no shell) with `argv.slice(1)`. Resolves once the child
 * runs; rejects when it cannot be started, with the system's error (`code` "ENOENT", "EACCES" …).
 */
export function spawnChild(argv: string[], opts: SpawnOptions = {}): Promise<Child> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.reject(new Error("spawnChild: empty argv"));
  const proc = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env,
    stdio: opts.stdio ?? ["ignore", "ignore", "ignore"],
    detached: opts.detached ?? false,
  });
  const exited = new Promise<Exit>((resolve) => {
    proc.once("exit", (code, signal) => resolve({ code, signal }));
  });
  return new Promise<Child>((resolve, reject) => {
    let started = false;
    // Also after the start: an unheard "error" event (a failed kill) would throw in this process.
    proc.on("error", (err) => {
      if (!started) reject(err);
    });
    proc.once("spawn", () => {
      started = true;
      const pid = proc.pid as number;
      if (opts.timeoutMs !== undefined) {
        const timer = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs);
        void exited.then(() => clearTimeout(timer));
      }
      resolve({
        pid,
        exited,
        stdout: proc.stdout,
        stderr: proc.stderr,
        unref: () => proc.unref(),
      });
    });
  });
}

/** All of a piped stream as UTF-8 text. */
export async function readText(stream: AsyncIterable<Uint8Array> | null): Promise<string> {
  if (!stream) return "";
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

/** What a synchronous run printed and how it ended; `code` is null when it did not exit by itself. */
export interface SyncRun extends Exit {
  stdout: string;
}

/**
 * Run `argv` to its end, blocking this process for at most `timeoutMs` (then SIGKILL: a bound
 * that a child ignoring SIGTERM cannot stretch). Stdin and stderr are /dev/null. Never throws: a
 * command that cannot start comes back with neither code nor signal.
 */
export function runSync(argv: string[], timeoutMs: number): SyncRun {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return { code: null, signal: null, stdout: "" };
  const r = spawnSync(cmd, args, {
    encoding: "utf8",
    timeout: timeoutMs,
    killSignal: "SIGKILL",
    stdio: ["ignore", "pipe", "ignore"],
  });
  // Deno leaves status undefined where Bun and Node say null (a command that could not start).
  return { code: r.status ?? null, signal: r.signal ?? null, stdout: r.stdout ?? "" };
}
