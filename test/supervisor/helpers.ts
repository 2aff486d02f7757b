import { afterAll, afterEach, beforeAll } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Subprocess, spawn } from "bun";
import { cleanEnv as cliEnv, OYSTER_BIN, oyster, tempDir } from "../helpers/cli.ts";
import { alive, cmdlineOf, groupMembers, killAll, processesMentioning } from "../helpers/procs.ts";
import { type SshNode, type SshNodeOptions, startSshNode } from "../helpers/sshd.ts";
import { webhookReceiver } from "../helpers/webhook.ts";

export { alive, groupMembers, killAll, processesMentioning };

export const BUN = process.execPath;
export const SERVICE_SCRIPT = resolve(import.meta.dir, "fixtures/service.ts");
/** `command:` of a service running fixtures/service.ts, as oyster.yaml writes it. */
export const SERVICE_COMMAND = `[${JSON.stringify(BUN)}, ${JSON.stringify(SERVICE_SCRIPT)}]`;

/** A free-ish TCP port on 127.0.0.1 (bound and released). */
export function freePort(): number {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
  const port = s.port as number;
  s.stop(true);
  return port;
}

/** The runner's environment without OYSTER_* (see cli.ts), uncoloured, then `extra`. */
export const cleanEnv = (extra: Record<string, string> = {}): Record<string, string> =>
  cliEnv({ NO_COLOR: "1", ...extra });

/** Everything a stream says, as it arrives. */
function collect(stream: ReadableStream<Uint8Array>): () => string {
  let text = "";
  void (async () => {
    for await (const c of stream) text += Buffer.from(c).toString();
  })();
  return () => text;
}

export interface RunningSupervisor {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  stderr(): string;
}

/** Start `oyster supervise` in dir (with dir/oyster.yaml) in the background. */
export function startSupervise(dir: string, yaml: string, args: string[] = []): RunningSupervisor {
  writeFileSync(join(dir, "oyster.yaml"), yaml);
  const proc = spawn([OYSTER_BIN, "supervise", "--log-format", "json", ...args], {
    cwd: dir,
    env: cleanEnv(),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  return { proc, stderr: collect(proc.stderr) };
}

/** `oyster supervise logs` (following) in dir, in the background; `stdout()` is what it printed. */
export function followLogs(dir: string): { proc: Subprocess<"ignore", "pipe", "pipe">; stdout(): string } {
  const proc = spawn([OYSTER_BIN, "supervise", "logs"], {
    cwd: dir,
    env: cleanEnv(),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  return { proc, stdout: collect(proc.stdout) };
}

export async function httpStatus(port: number, path = "/health"): Promise<number> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, {
      signal: AbortSignal.timeout(500),
      keepalive: false,
    });
    await r.text();
    return r.status;
  } catch {
    return 0;
  }
}

export async function servicePid(port: number): Promise<number | null> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}/pid`, {
      signal: AbortSignal.timeout(500),
      keepalive: false,
    });
    return Number(await r.text()) || null;
  } catch {
    return null;
  }
}

/** Live `sleep SECONDS` processes whose argv or environment carries `marker`. */
export const markedSleeps = (marker: string, seconds: number): number[] =>
  processesMentioning(marker).filter((p) => cmdlineOf(p) === `sleep\0${seconds}\0`);

/**
 * A temp dir for one supervise test and a way to start `oyster supervise` in it; `onCleanup`
 * receives the teardown (kill the supervisors, then the dir's cleanup kills what is left).
 */
export function supervisorSandbox(
  prefix: string,
  onCleanup: (fn: () => Promise<void>) => void,
): { dir: string; sup: (yaml: string) => RunningSupervisor } {
  const t = tempDir(prefix);
  const sups: RunningSupervisor[] = [];
  onCleanup(async () => {
    for (const s of sups) {
      s.proc.kill("SIGKILL");
      await s.proc.exited;
    }
    t.cleanup();
  });
  return {
    dir: t.path,
    sup: (yaml) => {
      const s = startSupervise(t.path, yaml);
      sups.push(s);
      return s;
    },
  };
}

/** `oyster supervise status --json` in dir, parsed; a failure throws with its stderr. */
export function superviseStatus<T>(dir: string): T[] {
  const r = oyster(["supervise", "status", "--json"], { cwd: dir });
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as T[];
}

/** A row of `oyster supervise status --json`: the fields the tests read. */
export interface ServiceRow {
  name: string;
  host: string;
  pid: number | null;
  status: string;
  health: string;
  restarts: number;
  started_at: number | null;
  crash_loop_alerts: number;
  last_error: string | null;
}

/**
 * The frame of a file of supervise tests; call it at the top level (it registers the afterEach).
 * `defer` adds a teardown run after the current test (the last added first); `setup` gives a
 * sandbox (see supervisorSandbox) torn down then; `status` reads a dir's rows; `allRunning` them
 * when there are `n` and each is running with a pid (else null).
 */
export function superviseSuite(prefix: string) {
  const cleanups: (() => void | Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  const defer = (fn: () => void | Promise<void>): void => {
    cleanups.push(fn);
  };
  const status = (dir: string) => superviseStatus<ServiceRow>(dir);
  return {
    defer,
    setup: (dirPrefix = prefix) => supervisorSandbox(dirPrefix, defer),
    status,
    allRunning: (dir: string, n: number): ServiceRow[] | null => {
      const r = status(dir);
      return r.length === n && r.every((x) => x.status === "running" && x.pid) ? r : null;
    },
    /** A webhook receiver for this test: its URL, and the JSON bodies it got, in order. */
    webhook: (): { url: string; hooks: Record<string, unknown>[] } => {
      const w = webhookReceiver();
      defer(w.stop);
      return w;
    },
  };
}

/** The head of an oyster.yaml whose services may run on `node` (fast SSH timeouts). */
export const onNode = (node: SshNode): string =>
  `nodes:\n  - ${JSON.stringify(node.nodeConfig())}\nssh: { connect_timeout: 3s, keepalive: 1s }\n`;

export interface RemoteSupervisor {
  node: SshNode;
  dir: string;
  /** A free port for the remote service (its instances carry PORT=port in their environment). */
  port: number;
  sup: RunningSupervisor;
  /** The node's pid file of the remote service. */
  pidFile: string;
  /** The remote service's process group, as its pid file names it. */
  remotePgid(): number;
  status(): ServiceRow[];
}

/**
 * One real sshd node and one `oyster supervise` for a whole test file; call it at the top level.
 * beforeAll starts them (`yaml` gets the node, the temp dir and the port); afterAll kills the
 * supervisor, what it ran here and on the node (the pid file of `service`), the node, the dir.
 */
export function remoteSupervisor(opts: {
  node: SshNodeOptions;
  prefix: string;
  service: string;
  yaml: (at: { node: SshNode; dir: string; port: number }) => string;
}): RemoteSupervisor {
  let cleanupDir = (): void => {};
  // Filled in by beforeAll: the tests read it only once it has run.
  const f = {
    remotePgid: () => Number(readFileSync(f.pidFile, "utf8").trim()),
    status: () => superviseStatus<ServiceRow>(f.dir),
  } as RemoteSupervisor;
  beforeAll(async () => {
    f.node = await startSshNode(opts.node);
    const t = tempDir(opts.prefix);
    f.dir = t.path;
    cleanupDir = t.cleanup;
    f.port = freePort();
    f.pidFile = join(f.node.home, "supervise", `${opts.service}.pid`);
    f.sup = startSupervise(f.dir, opts.yaml(f));
  });
  afterAll(async () => {
    f.sup?.proc.kill("SIGKILL");
    await f.sup?.proc.exited;
    if (f.pidFile && existsSync(f.pidFile)) killAll([f.remotePgid()]);
    if (f.port) killAll(processesMentioning(`PORT=${f.port}`));
    await f.node?.destroy();
    cleanupDir();
  });
  return f;
}
