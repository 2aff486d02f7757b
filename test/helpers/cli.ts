import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { killAll, processesMentioning } from "./procs.ts";

/** The built binary every end-to-end test drives (`npm test` builds it first). */
export const OYSTER_BIN = process.env.OYSTER_TEST_BIN ?? resolve(import.meta.dir, "../../dist/oyster");
export const REPO_ROOT = resolve(import.meta.dir, "../..");

/**
 * A private temp dir. Its cleanup also kills whatever still runs from it (a run wrapper and its
 * executor left by a test that failed half-way), so a failing test never leaks processes.
 */
export function tempDir(prefix = "oyster-test-"): { path: string; cleanup: () => void } {
  const path = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  return {
    path,
    cleanup: () => {
      killAll(processesMentioning(path));
      rmSync(path, { recursive: true, force: true });
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The runner's environment without any OYSTER_* variable, then `extra`: every process a test
 * starts gets this, so an operator's own OYSTER_CONFIG, OYSTER_STORE or OYSTER_HTTP_PORT never
 * points a test's controller or CLI at their store or port instead of the test's own.
 */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith("OYSTER_")) env[k] = v;
  return { ...env, ...extra };
}

/** Run the built binary to completion, with a clean OYSTER_* environment. */
export function oyster(
  args: string[],
  opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): CliResult {
  const p = Bun.spawnSync([OYSTER_BIN, ...args], {
    cwd: opts.cwd,
    env: cleanEnv({ NO_COLOR: "1", ...opts.env }),
    stdout: "pipe",
    stderr: "pipe",
    timeout: opts.timeoutMs ?? 30_000,
  });
  return { code: p.exitCode ?? -1, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

/** Poll `check` until it returns a truthy value or the deadline passes; never sleep-and-hope. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  { timeoutMs = 10_000, intervalMs = 50 } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    await Bun.sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/** `oyster run` in `cwd` from the built binary, output discarded (tests read the store instead). */
export function spawnController(cwd: string, env: Record<string, string> = {}, args: string[] = []) {
  return Bun.spawn([OYSTER_BIN, "run", ...args], {
    cwd,
    stdout: "ignore",
    stderr: "ignore",
    env: cleanEnv({ NO_COLOR: "1", ...env }),
  });
}
