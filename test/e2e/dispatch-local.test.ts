import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, OYSTER_BIN, oyster, tempDir, waitFor } from "../helpers/cli.ts";
import { childrenOf } from "../helpers/procs.ts";

/**
 * The controller end to end on the embedded `local` node: a DAG with shared `modifies` paths,
 * a flaky task and a hostile task id, run with `oyster run --until-done`.
 */
const dir = tempDir("oyster-e2e-local-");
afterAll(dir.cleanup);

const spec = (id: string, fm: Record<string, unknown>) =>
  `---\n${Object.entries({ task_id: id, ...fm })
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join("\n")}\n---\nbody of ${id}\n`;

interface Run {
  task_id: string;
  state: string;
  attempt: number;
  started_at: number;
  finished_at: number;
}

describe("oyster run on the local node", () => {
  // Ids may not hold '/', so the marker is relative: it would land in the run's cwd or ours.
  const hostile = "x$(touch pwned-marker);touch pwned-marker`touch pwned-marker`";

  test("runs a DAG to the end: dependencies first, shared paths never overlap, a flaky task retried", async () => {
    const specs = join(dir.path, "specs");
    mkdirSync(specs);
    writeFileSync(join(specs, "a.md"), spec("a", { command: "sleep 0.3", modifies: ["shared.txt"] }));
    writeFileSync(join(specs, "b.md"), spec("b", { command: "sleep 0.3", modifies: ["shared.txt"] }));
    writeFileSync(join(specs, "c.md"), spec("c", { command: "sleep 0.2", depends_on: ["a", "b"] }));
    writeFileSync(
      join(specs, "d.md"),
      spec("d", {
        command: '[ "$OYSTER_ATTEMPT" -ge 2 ] || exit 3; echo ok',
        depends_on: ["c"],
        max_attempts: 3,
      }),
    );
    writeFileSync(join(specs, "e.md"), spec("e", { command: "sleep 0.1", priority: 0 }));
    writeFileSync(join(specs, "hostile.md"), spec(hostile, { command: "echo harmless" }));
    writeFileSync(
      join(dir.path, "oyster.yaml"),
      [
        "store: ./o.db",
        "http: { port: 0 }",
        `nodes: [{ name: local, transport: local, slots: 3, oyster_home: ${JSON.stringify(join(dir.path, "node-home"))} }]`,
        "loops: { scheduler: { interval: 100ms }, probe: { interval: 1s }, reaper: { interval: 500ms } }",
        "retry: { backoff: 100ms }",
      ].join("\n"),
    );
    const env = { OYSTER_HOME: join(dir.path, "node-home") };
    expect(oyster(["submit", specs], { cwd: dir.path, env }).code).toBe(0);

    const run = Bun.spawn([OYSTER_BIN, "run", "--until-done"], {
      cwd: dir.path,
      env: cleanEnv({ ...env, NO_COLOR: "1" }),
      stdout: "pipe",
      stderr: "pipe",
    });
    const code = await Promise.race([run.exited, Bun.sleep(60_000).then(() => "timeout" as const)]);
    const out = await new Response(run.stdout).text();
    if (code !== 0) console.error(out, await new Response(run.stderr).text());
    expect(code).toBe(0);
    expect(out).toContain("done: all 6 task(s) succeeded");

    const db = new Database(join(dir.path, "o.db"), { readonly: true });
    const runs = db.query("SELECT * FROM runs WHERE state = 'succeeded' ORDER BY started_at").all() as Run[];
    const ok = Object.fromEntries(runs.map((r) => [r.task_id, r]));
    expect(Object.keys(ok).sort()).toEqual([hostile, "a", "b", "c", "d", "e"].sort());
    // c after both a and b; d after c.
    expect(ok.c!.started_at).toBeGreaterThanOrEqual(Math.max(ok.a!.finished_at, ok.b!.finished_at));
    expect(ok.d!.started_at).toBeGreaterThanOrEqual(ok.c!.finished_at);
    // a and b modify the same path: their runs never overlap.
    const [first, second] = [ok.a!, ok.b!].sort((x, y) => x.started_at - y.started_at);
    expect(second!.started_at).toBeGreaterThanOrEqual(first!.finished_at);
    // d failed once on purpose, then succeeded on attempt 2.
    const dRuns = db.query("SELECT state, exit_code FROM runs WHERE task_id = 'd' ORDER BY attempt").all();
    expect(dRuns).toEqual([
      { state: "failed", exit_code: 3 },
      { state: "succeeded", exit_code: 0 },
    ]);
    // Nothing leaked.
    expect(db.query("SELECT COUNT(*) AS n FROM leases").get()).toEqual({ n: 0 });
    expect(db.query("SELECT COUNT(*) AS n FROM file_locks").get()).toEqual({ n: 0 });
    db.close();
    // The hostile id was stored and run verbatim; nothing was executed from it.
    const found = Bun.spawnSync(["find", dir.path, "-name", "pwned-marker"]).stdout.toString();
    expect(found).toBe("");
    expect(existsSync("pwned-marker")).toBe(false);
  });

  test("drain holds work back with a recorded reason; SIGINT exits 0 within 10 s", async () => {
    const env = { OYSTER_HOME: join(dir.path, "node-home") };
    const specs = join(dir.path, "specs2");
    mkdirSync(specs);
    writeFileSync(join(specs, "late.md"), spec("late", { command: "true" }));
    expect(oyster(["submit", specs], { cwd: dir.path, env }).code).toBe(0);
    expect(oyster(["drain", "on"], { cwd: dir.path, env }).stdout).toContain("drain is on");
    const run = Bun.spawn([OYSTER_BIN, "run"], {
      cwd: dir.path,
      env: cleanEnv({ ...env }),
      stdout: "ignore",
      stderr: "pipe",
    });
    await waitFor(
      "a draining refusal",
      () => {
        const s = JSON.parse(oyster(["stats", "--json"], { cwd: dir.path, env }).stdout);
        return (s.refusals?.draining ?? 0) > 0;
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    const status = JSON.parse(oyster(["tasks", "--json"], { cwd: dir.path, env }).stdout) as {
      task_id: string;
      status: string;
    }[];
    expect(status.find((t) => t.task_id === "late")?.status).toBe("pending");
    // Everything the controller started itself (not detached runs, which outlive it by design).
    const before = childrenOf(run.pid);
    const t0 = Date.now();
    run.kill("SIGINT");
    expect(await run.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(before.filter((pid) => existsSync(`/proc/${pid}`))).toEqual([]);
  });
});
