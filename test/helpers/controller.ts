import { afterAll, afterEach } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { oyster, spawnController, tempDir, waitFor } from "./cli.ts";
import { storeReader } from "./store.ts";

/**
 * Write `dir`/oyster.yaml: the store at ./o.db (where the tests read it) and, unless `lines` say
 * otherwise, HTTP on port 0: until the controller has written its URL the CLI asks http.port, and
 * the default 8090 may be anyone's controller.
 */
export function writeConfig(dir: string, lines: string[]): void {
  const http = lines.some((l) => l.startsWith("http:")) ? [] : ["http: { port: 0 }"];
  writeFileSync(join(dir, "oyster.yaml"), `${["store: ./o.db", ...http, ...lines].join("\n")}\n`);
}

/** The embedded `local` node as a config line; `extra` adds keys to it (", executors: [shell]"). */
export const localNode = (slots: number, extra = "") =>
  `nodes: [{ name: local, transport: local, slots: ${slots}, oyster_home: ./node-home${extra} }]`;

/** Wait until every node named is online in `dir`'s store (20 s: sshd nodes on a busy runner). */
export function waitNodesOnline(dir: string, names: string[]): Promise<boolean> {
  const { count } = storeReader(join(dir, "o.db"));
  const sql = `SELECT COUNT(*) AS n FROM nodes WHERE online = 1 AND name IN (${names.map(() => "?").join(", ")})`;
  return waitFor(`${names.join(", ")} online`, () => count(sql, ...names) === names.length, {
    timeoutMs: 20_000,
  });
}

/** SIGTERM a controller and give it 10 s to shut down; SIGKILL it if it has not by then. */
export async function stopController(p: Subprocess | null | undefined): Promise<void> {
  if (!p) return;
  p.kill("SIGTERM");
  await Promise.race([p.exited, Bun.sleep(10_000)]);
  if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
}

/** The URL the controller of `cwd`'s store answers on, once `oyster status` sees it up. */
export function controllerUrl(cwd: string, env: Record<string, string> = {}): Promise<string> {
  return waitFor("the controller's URL", () => {
    const r = oyster(["status", "--json"], { cwd, env });
    if (r.code !== 0) return null;
    const s = JSON.parse(r.stdout) as { controller: { up: boolean; url: string } };
    return s.controller.up ? s.controller.url : null;
  });
}

/**
 * Controllers that each live for one test, in temp dirs that live for the file: every controller
 * started or tracked here is SIGKILLed after its test, every dir removed after the last test.
 * Call it at the top level of a test file (it registers the hooks).
 */
export function controllerSandbox(prefix: string) {
  const dirs: { cleanup: () => void }[] = [];
  const procs: Subprocess[] = [];
  afterEach(async () => {
    for (const p of procs.splice(0)) {
      p.kill("SIGKILL");
      await p.exited;
    }
  });
  afterAll(() => {
    for (const d of dirs) d.cleanup();
  });
  const dir = (dirPrefix = prefix): string => {
    const d = tempDir(dirPrefix);
    dirs.push(d);
    return d.path;
  };
  const track = <P extends Subprocess>(p: P): P => {
    procs.push(p);
    return p;
  };
  return {
    /** An empty temp dir. */
    dir,
    /** A temp dir holding oyster.yaml from `lines` (see writeConfig). */
    configured: (lines: string[]): string => {
      const d = dir();
      writeConfig(d, lines);
      return d;
    },
    /** Kill `p` after this test. */
    track,
    /** `oyster run --port 0` in `cwd`, output discarded, killed after this test. */
    start: (cwd: string, env: Record<string, string> = {}) =>
      track(spawnController(cwd, env, ["--port", "0"])),
  };
}
