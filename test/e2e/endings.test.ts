import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { OYSTER_BIN, oyster, tempDir, waitFor } from "../helpers/cli.ts";
import { alive, groupGone } from "../helpers/procs.ts";
import { type SshNode, startSshNode } from "../helpers/sshd.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * Prompt and honest endings (issue 11.6), on the built binary with a local node: dependents of a
 * dead task are blocked in the same transaction (the guardian runs once an hour here), `run
 * --until-done` ends at once with a summary and exit 1, or 130/143 when signalled, `status`
 * exits 3 without a controller, `tasks cancel` kills a running task on the node at once (the
 * reaper runs once an hour here), and auto_revive never runs a `max_attempts: 1` task twice.
 */

const dirs: { path: string; cleanup: () => void }[] = [];
const procs: Subprocess[] = [];
/** Process groups of the runs the tests started, stopped in afterAll whatever happened. */
const groups = new Set<number>();
const wrappers = new Set<number>();
const sshNodes: SshNode[] = [];

afterAll(async () => {
  for (const p of procs) {
    p.kill("SIGKILL");
    await p.exited;
  }
  for (const n of sshNodes) await n.destroy();
  for (const g of groups) {
    if (!(g > 1)) continue; // -0 and -1 would signal the runner's own group, or everything
    try {
      process.kill(-g, "SIGKILL");
    } catch {
      // already gone
    }
  }
  for (const w of wrappers) {
    try {
      process.kill(w, "SIGKILL");
    } catch {
      // already gone
    }
  }
  for (const d of dirs) d.cleanup();
});

function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env))
    if (v !== undefined && !k.startsWith("OYSTER_")) env[k] = v;
  return { ...env, NO_COLOR: "1" };
}

/** A fresh directory with an oyster.yaml (its own store, port 0, one local node) and specs. */
function setup(loops: string, extra: string[], specs: Record<string, string>, localNode = true) {
  const dir = tempDir("oyster-e2e-endings-");
  dirs.push(dir);
  writeFileSync(
    join(dir.path, "oyster.yaml"),
    [
      "store: ./o.db",
      "http: { port: 0 }",
      ...(localNode
        ? ["nodes: [{ name: local, transport: local, slots: 4, oyster_home: ./node-home }]"]
        : []),
      `loops: { ${loops} }`,
      ...extra,
      "",
    ].join("\n"),
  );
  const specDir = join(dir.path, "specs");
  mkdirSync(specDir);
  for (const [name, text] of Object.entries(specs)) writeFileSync(join(specDir, `${name}.md`), text);
  if (Object.keys(specs).length) expect(oyster(["submit", specDir], { cwd: dir.path }).code).toBe(0);
  return { dir: dir.path, ...storeReader(join(dir.path, "o.db")) };
}

function spec(id: string, command: string, more = ""): string {
  return `---\ntask_id: ${id}\ncommand: ${JSON.stringify(command)}\n${more}---\nx\n`;
}

/** `oyster run …` with its output kept, for the tests that read what it prints. */
function startRun(dir: string, args: string[]) {
  const p = Bun.spawn([OYSTER_BIN, "run", ...args], {
    cwd: dir,
    env: cleanEnv(),
    stdout: "pipe",
    stderr: "pipe",
  });
  procs.push(p);
  const out = new Response(p.stdout).text();
  const err = new Response(p.stderr).text();
  return { p, out, err };
}

/** `-pgid`: no live member left in the group; a pid: that process is gone (zombies count as gone). */
function gone(pid: number): boolean {
  return pid < 0 ? groupGone(-pid) : !alive(pid);
}

/** The one file named `name` under `dir` (a task's ledger, wherever its run dir put it). */
function findOne(dir: string, name: string): string {
  const files = Bun.spawnSync(["find", dir, "-name", name])
    .stdout.toString()
    .trim()
    .split("\n")
    .filter(Boolean);
  expect(files).toHaveLength(1);
  return files[0]!;
}

/**
 * The executor's pid (its process group) of the one running run, from the node's status.json:
 * the store learns it only from some transports. Remembered for afterAll's cleanup.
 */
async function runningPid(
  dir: string,
  q: <T>(sql: string, ...p: (string | number)[]) => T[],
  what: string,
): Promise<number> {
  return waitFor(
    what,
    () => {
      const run = q<{ run_id: string }>("SELECT run_id FROM runs WHERE state = 'running'")[0];
      if (!run) return null;
      const s = JSON.parse(
        readFileSync(join(dir, "node-home", "runs", run.run_id, "status.json"), "utf8"),
      ) as {
        pid?: number;
        wrapper_pid?: number;
      };
      if (!s.pid) return null;
      groups.add(s.pid);
      if (s.wrapper_pid) wrappers.add(s.wrapper_pid);
      return s.pid;
    },
    { timeoutMs: 15_000 },
  );
}

const SLOW_HEALING = "scheduler: { interval: 100ms }, reaper: { interval: 1h }, guardian: { interval: 1h }";

describe("a dead task ends the run at once", () => {
  test("its dependents are blocked in the same transaction and run --until-done exits 1 with a summary", async () => {
    const { dir, q } = setup(SLOW_HEALING, ["retry: { backoff: 100ms, max_attempts: 1 }"], {
      a: spec("a", "exit 3"),
      b: spec("b", "true", "depends_on: [a]\n"),
      c: spec("c", "true", "depends_on: [b]\n"),
      d: spec("d", "true"),
    });
    const t0 = Date.now();
    const run = startRun(dir, ["--until-done"]);
    // The guardian's next cycle is an hour away: only a prompt block can end this run.
    const code = await Promise.race([run.p.exited, Bun.sleep(20_000).then(() => "still running")]);
    expect(code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(20_000);
    const out = await run.out;
    expect(out).toContain("done: nothing more can run — 1 dead, 2 blocked, 1 succeeded");
    expect(out).toContain("dead     a: exit_nonzero, 1/1 attempts");
    expect(out).toContain("blocked  b: waits on a (dead)");
    expect(out).toContain("blocked  c: waits on b (blocked)");
    // Same transaction: the chain was blocked at the very instant a became dead, by the controller.
    const rows = q<{ task_id: string; status: string; updated_at: number }>(
      "SELECT task_id, status, updated_at FROM tasks ORDER BY task_id",
    );
    const at = Object.fromEntries(rows.map((r) => [r.task_id, r]));
    expect(at.a?.status).toBe("dead");
    expect(at.b?.updated_at).toBe(at.a!.updated_at);
    expect(at.c?.updated_at).toBe(at.a!.updated_at);
    expect(
      q<{ source: string }>("SELECT DISTINCT source FROM events WHERE kind = 'task_blocked'").map(
        (r) => r.source,
      ),
    ).toEqual(["controller"]);
  }, 30_000);
});

describe("run --until-done stopped by a signal", () => {
  for (const [sig, expected] of [
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const) {
    test(`${sig} exits ${expected}, never 0`, async () => {
      const { dir, q } = setup(SLOW_HEALING, [], { long: spec("long", "sleep 30") });
      const run = startRun(dir, ["--until-done"]);
      await runningPid(dir, q, "the long task running");
      run.p.kill(sig);
      const code = await Promise.race([run.p.exited, Bun.sleep(15_000).then(() => "still running")]);
      expect(code).toBe(expected);
    }, 40_000);
  }
});

describe("oyster status exit code", () => {
  test("3 when no controller runs (with or without a store), 0 when one does", async () => {
    const { dir } = setup(SLOW_HEALING, [], {});
    const none = oyster(["status"], { cwd: dir });
    expect(none.code).toBe(3);
    expect(none.stderr).toContain("there is no store");
    writeFileSync(join(dir, "specs", "t.md"), spec("t", "true"));
    expect(oyster(["submit", join(dir, "specs")], { cwd: dir }).code).toBe(0);
    const down = oyster(["status"], { cwd: dir });
    expect(down.code).toBe(3);
    expect(down.stdout).toMatch(/down|not running|unreachable/i);
    const run = startRun(dir, []);
    await waitFor("the controller answers", () => oyster(["status"], { cwd: dir }).code === 0, {
      timeoutMs: 15_000,
      intervalMs: 200,
    });
    run.p.kill("SIGTERM");
    expect(await run.p.exited).toBe(0);
    expect(oyster(["status"], { cwd: dir }).code).toBe(3);
  }, 40_000);
});

describe("tasks cancel on a running task", () => {
  test("kills it on the node at once (the reaper is an hour away) and only then says cancelled", async () => {
    const ledger = "ledger.txt";
    const { dir, q } = setup(SLOW_HEALING, [], {
      work: spec("work", `echo start >> ${ledger}; while :; do echo tick >> ${ledger}; sleep 0.1; done`),
    });
    const run = startRun(dir, []);
    const pid = await runningPid(dir, q, "the task running");
    const t0 = Date.now();
    const r = oyster(["tasks", "cancel", "work"], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("work: running → cancelled (killed on local)");
    // The CLI said cancelled only after the kill was sent: the run is over in the store too.
    expect(q("SELECT state FROM runs WHERE task_id = 'work'")).toEqual([{ state: "cancelled" }]);
    expect(q("SELECT status FROM tasks WHERE task_id = 'work'")).toEqual([{ status: "cancelled" }]);
    await waitFor("the executor's process group gone", () => gone(-pid), { timeoutMs: 15_000 });
    expect(Date.now() - t0).toBeLessThan(8_000);
    // The ledger: one start, and nothing written since the group was gone.
    const file = findOne(dir, ledger);
    const text = readFileSync(file, "utf8");
    expect(text.split("\n").filter((l) => l === "start")).toHaveLength(1);
    run.p.kill("SIGTERM");
    expect(await run.p.exited).toBe(0);
    expect(readFileSync(file, "utf8")).toBe(text);
  }, 40_000);

  test("through the API too: cancelled only once the kill was sent", async () => {
    const { dir, q } = setup(SLOW_HEALING, [], { api: spec("api", "sleep 30") });
    const run = startRun(dir, []);
    const pid = await runningPid(dir, q, "the task running");
    const r = oyster(["tasks", "cancel", "api", "--api"], { cwd: dir });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("api: running → cancelled (killed on local)\n");
    await waitFor("the executor's process group gone", () => gone(-pid), { timeoutMs: 15_000 });
    // Requested through the API, then the kill sent and the run ended (in either order).
    expect(q("SELECT kind, source FROM events WHERE kind LIKE '%cancel%' ORDER BY kind")).toEqual([
      { kind: "cancel_kill_sent", source: "controller" },
      { kind: "run_cancelled", source: "controller" },
      { kind: "task_cancel_requested", source: "api" },
    ]);
    run.p.kill("SIGTERM");
    expect(await run.p.exited).toBe(0);
  }, 40_000);

  test("without a controller the kill is said to be pending, and the task is not cancelled yet", async () => {
    const { dir, q } = setup(SLOW_HEALING, [], { hold: spec("hold", "sleep 30") });
    const run = startRun(dir, []);
    const pid = await runningPid(dir, q, "the task running");
    run.p.kill("SIGKILL");
    await run.p.exited;
    const r = oyster(["tasks", "cancel", "hold"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("hold: running → cancel requested; the kill is pending: no controller runs");
    expect(q("SELECT status FROM tasks WHERE task_id = 'hold'")).toEqual([{ status: "running" }]);
    expect(oyster(["tasks"], { cwd: dir }).stdout).toMatch(/hold\s+running \(cancelling\)/);
    const show = oyster(["tasks", "show", "hold"], { cwd: dir });
    expect(show.stdout).toMatch(/status {6}running — cancel requested .* ago, kill pending/);
    // The next controller carries it out.
    const again = startRun(dir, []);
    await waitFor(
      "cancelled by the next controller",
      () =>
        q<{ status: string }>("SELECT status FROM tasks WHERE task_id = 'hold'")[0]?.status === "cancelled",
    );
    await waitFor("the executor gone", () => gone(-pid), { timeoutMs: 15_000 });
    again.p.kill("SIGTERM");
    await again.p.exited;
  }, 40_000);
});

describe("auto_revive and max_attempts", () => {
  test("max_attempts: 1 with auto_revive: 1 runs once; tasks show gives the effective timeout and attempts left", async () => {
    const { dir, q, count } = setup(
      "scheduler: { interval: 100ms }, reaper: { interval: 200ms }, guardian: { interval: 200ms }",
      ["retry: { backoff: 100ms, auto_revive: 1 }"],
      { once: spec("once", "echo ran >> once.ledger; sleep 30", "max_attempts: 1\ntimeout: 1s\n") },
    );
    const run = startRun(dir, []);
    await runningPid(dir, q, "the task running");
    await waitFor("dead of its timeout", () =>
      count("SELECT COUNT(*) AS n FROM tasks WHERE task_id = 'once' AND status = 'dead'"),
    );
    // Prove guardian cycles ran after it died: each reports a task waiting on an id nobody submitted.
    const specs = join(dir, "specs");
    for (const k of [1, 2]) {
      writeFileSync(join(specs, "once.md"), spec(`w-${k}`, "true", `depends_on: [nobody-${k}]\n`));
      expect(oyster(["submit", "--allow-missing-deps", specs], { cwd: dir }).code).toBe(0);
      await waitFor(`guardian cycle ${k}`, () =>
        count("SELECT COUNT(*) AS n FROM events WHERE kind = 'dependency_missing' AND task_id = ?", `w-${k}`),
      );
    }
    expect(q("SELECT status, attempts, max_attempts, revivals FROM tasks WHERE task_id = 'once'")).toEqual([
      { status: "dead", attempts: 1, max_attempts: 1, revivals: 0 },
    ]);
    expect(count("SELECT COUNT(*) AS n FROM runs WHERE task_id = 'once'")).toBe(1);
    expect(readFileSync(findOne(dir, "once.ledger"), "utf8")).toBe("ran\n");

    const show = oyster(["tasks", "show", "once"], { cwd: dir });
    expect(show.stdout).toContain("attempts    1/1, 0 left");
    expect(show.stdout).toContain("timeout     1s (the spec's timeout)");
    const json = JSON.parse(oyster(["tasks", "show", "once", "--json"], { cwd: dir }).stdout);
    expect(json).toMatchObject({ effective_timeout_ms: 1000, attempts_left: 0, revivals_left: 0 });
    // A task on the config default shows the task_max timeout and what auto_revive may add.
    const w = oyster(["tasks", "show", "w-1"], { cwd: dir });
    expect(w.stdout).toContain("attempts    0/3, 3 left; the guardian may add 1 after");
    expect(w.stdout).toMatch(/timeout {5}\S+.*\(timeouts\.task_max/);
    run.p.kill("SIGTERM");
    expect(await run.p.exited).toBe(0);
    expect(existsSync(join(dir, "o.db"))).toBe(true);
  }, 60_000);
});

describe("tasks cancel when the node does not answer", () => {
  test("the kill is said to be pending, naming the node; it is sent when the node is back", async () => {
    const node = await startSshNode({ address: "127.0.0.41", name: "far" });
    sshNodes.push(node);
    const { dir, q } = setup(
      "scheduler: { interval: 100ms }, probe: { interval: 1h }, reaper: { interval: 1h }, guardian: { interval: 1h }",
      [
        "ssh: { connect_timeout: 1s, command_timeout: 1s }",
        `nodes: [${JSON.stringify(node.nodeConfig({ slots: 2 }))}]`,
      ],
      { far: spec("far", "sleep 30") },
      false,
    );
    const run = startRun(dir, []);
    const runId = await waitFor(
      "the task running on the node",
      () => q<{ run_id: string }>("SELECT run_id FROM runs WHERE state = 'running'")[0]?.run_id,
      { timeoutMs: 20_000 },
    );
    // The store says running from the start reply; the executor's pid is in status.json a moment
    // later. Without it, -pid would be 0: a signal to the test runner's own process group.
    const onNode = await waitFor(
      "the executor's pid on the node",
      () => {
        const s = JSON.parse(readFileSync(join(node.home, "runs", runId, "status.json"), "utf8")) as {
          pid: number | null;
        };
        return s.pid && s.pid > 1 ? { pid: s.pid } : null;
      },
      { timeoutMs: 10_000 },
    );
    groups.add(onNode.pid);
    await node.stop();
    const r = oyster(["tasks", "cancel", "far"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^far: running → cancel requested; the kill is pending: node far did not answer/,
    );
    expect(q("SELECT status FROM tasks WHERE task_id = 'far'")).toEqual([{ status: "running" }]);
    expect(gone(-onNode.pid)).toBe(false);
    expect(oyster(["tasks", "show", "far"], { cwd: dir }).stdout).toMatch(
      /status {6}running — cancel requested .* ago, kill pending: node far did not answer/,
    );
    await node.start();
    await waitFor(
      "cancelled once the node answers",
      () =>
        q<{ status: string }>("SELECT status FROM tasks WHERE task_id = 'far'")[0]?.status === "cancelled",
      { timeoutMs: 20_000 },
    );
    await waitFor("the executor gone", () => gone(-onNode.pid), { timeoutMs: 15_000 });
    run.p.kill("SIGTERM");
    expect(await run.p.exited).toBe(0);
  }, 60_000);
});
