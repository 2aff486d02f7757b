import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { cleanEnv, OYSTER_BIN, oyster, spawnController, tempDir, waitFor } from "../helpers/cli.ts";

/**
 * `oyster logs -f` on a task that has not run yet waits for its first run (the way `tail -F`
 * waits for its file) instead of exiting with "no runs yet"; a task that ends without a run is
 * an error naming its status, and Ctrl-C while waiting exits 130.
 */
const dir = tempDir("oyster-e2e-logs-wait-");
const home = join(dir.path, "node-home");
let controller: Subprocess | null = null;
afterAll(async () => {
  controller?.kill("SIGKILL");
  await controller?.exited;
  dir.cleanup();
});

writeFileSync(
  join(dir.path, "oyster.yaml"),
  [
    "store: ./o.db",
    "http: { port: 0 }",
    `nodes: [{ name: local, transport: local, slots: 2, oyster_home: ${JSON.stringify(home)} }]`,
    "loops: { scheduler: { interval: 100ms }, probe: { interval: 1s }, reaper: { interval: 300ms }, guardian: { interval: 300ms } }",
    "retry: { auto_revive: 0 }",
  ].join("\n"),
);
const env = { OYSTER_HOME: home };

function submit(id: string, fm: Record<string, unknown>, flags: string[] = []): void {
  const d = join(dir.path, "specs", id);
  mkdirSync(d, { recursive: true });
  const lines = Object.entries({ task_id: id, ...fm }).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  writeFileSync(join(d, `${id}.md`), `---\n${lines.join("\n")}\n---\nbody\n`);
  const r = oyster(["submit", ...flags, d], { cwd: dir.path, env });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
}

/** `oyster logs -f ID` with its output collected as it comes. */
function follow(id: string) {
  const p = Bun.spawn([OYSTER_BIN, "logs", "-f", id], {
    cwd: dir.path,
    stdout: "pipe",
    stderr: "pipe",
    env: cleanEnv({ NO_COLOR: "1", ...env }),
  });
  const out = { stdout: "", stderr: "" };
  const collect = async (s: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
    const d = new TextDecoder();
    for await (const chunk of s) out[key] += d.decode(chunk, { stream: true });
  };
  const done = Promise.all([collect(p.stdout, "stdout"), collect(p.stderr, "stderr")]).then(() => p.exited);
  return { p, out, done };
}

describe("oyster logs -f before the first run", () => {
  test("waits while the task is pending, then follows the run to its end and exits with its status", async () => {
    submit("later", { command: "echo waited-output; exit 3" });
    const f = follow("later");
    await waitFor("the waiting note", () => f.out.stderr.includes("waiting for the first run of task later"));
    expect(f.p.exitCode).toBeNull();
    controller = spawnController(dir.path, env);
    expect(await f.done).toBe(3);
    expect(f.out.stdout).toContain("waited-output");
  });

  test("a task cancelled before it ran ends the wait with an error that says so", async () => {
    submit("never", { command: "true", depends_on: ["nobody"] }, ["--allow-missing-deps"]);
    const f = follow("never");
    await waitFor("the waiting note", () => f.out.stderr.includes("waiting for the first run of task never"));
    expect(oyster(["tasks", "cancel", "never"], { cwd: dir.path, env }).code).toBe(0);
    expect(await f.done).toBe(1);
    expect(f.out.stderr).toContain("task never is cancelled and never ran");
  });

  test("says so when the task it waits for changes status (blocked by a dead dependency)", async () => {
    // The follower is waiting before its dependency exists, so it sees the change to blocked.
    submit("after-dies", { command: "true", depends_on: ["dies"] }, ["--allow-missing-deps"]);
    const f = follow("after-dies");
    await waitFor("the waiting note", () =>
      f.out.stderr.includes("waiting for the first run of task after-dies (pending)"),
    );
    submit("dies", { command: "exit 1", max_attempts: 1 });
    await waitFor(
      "the blocked note",
      () => f.out.stderr.includes("task after-dies is blocked; still waiting"),
      {
        timeoutMs: 20_000,
      },
    );
    expect(f.p.exitCode).toBeNull();
    f.p.kill("SIGINT");
    expect(await f.done).toBe(130);
  }, 30_000);

  test("Ctrl-C while waiting exits 130", async () => {
    submit("parked", { command: "true", depends_on: ["nobody"] }, ["--allow-missing-deps"]);
    const f = follow("parked");
    await waitFor("the waiting note", () =>
      f.out.stderr.includes("waiting for the first run of task parked"),
    );
    f.p.kill("SIGINT");
    expect(await f.done).toBe(130);
  });
});
