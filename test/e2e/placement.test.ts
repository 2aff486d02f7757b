import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { OYSTER_BIN, oyster, spawnController, tempDir, waitFor } from "../helpers/cli.ts";

/**
 * Pools, the team reservation and waiting reasons (issues 12.5, 13.2, 13.7) on the built binary
 * with the embedded local node: what the scheduler holds back, and that `oyster tasks`,
 * `tasks show`, `status` and the API say why, from the scheduler's own decision.
 */
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface TaskJson {
  task_id: string;
  status: string;
  updated_at: number;
  updated_at_iso: string;
  waiting: { reason: string; detail: string } | null;
}

function setup(name: string, extraConfig: string[], slots: number) {
  const dir = tempDir(`oyster-e2e-${name}-`);
  cleanups.push(dir.cleanup);
  const home = join(dir.path, "node-home");
  writeFileSync(
    join(dir.path, "oyster.yaml"),
    [
      "store: ./o.db",
      "http: { port: 0 }",
      `nodes: [{ name: local, transport: local, slots: ${slots}, oyster_home: ${JSON.stringify(home)} }]`,
      "loops: { scheduler: { interval: 100ms }, probe: { interval: 1s }, reaper: { interval: 500ms } }",
      "retry: { backoff: 100ms }",
      ...extraConfig,
    ].join("\n"),
  );
  const env = { OYSTER_HOME: home };
  const cli = (args: string[]) => oyster(args, { cwd: dir.path, env });
  const ledger = join(dir.path, "ledger");
  /** One line per execution start and end: `start ID` / `end ID`. */
  const logged = (id: string, rest: string) =>
    `echo "start ${id}" >> '${ledger}'; ${rest}; echo "end ${id}" >> '${ledger}'`;
  const submit = (id: string, fm: Record<string, unknown>) => {
    const d = join(dir.path, "specs", id);
    mkdirSync(d, { recursive: true });
    const lines = Object.entries({ task_id: id, ...fm }).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
    writeFileSync(join(d, `${id}.md`), `---\n${lines.join("\n")}\n---\nbody\n`);
    const r = cli(["submit", d]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  };
  const tasks = () => {
    const r = cli(["tasks", "--json"]);
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as TaskJson[];
  };
  const byId = () => Object.fromEntries(tasks().map((t) => [t.task_id, t]));
  const lines = () =>
    existsSync(ledger) ? readFileSync(ledger, "utf8").trim().split("\n").filter(Boolean) : [];
  const start = () => {
    const p: Subprocess = spawnController(dir.path, env);
    cleanups.push(async () => {
      p.kill("SIGTERM");
      await p.exited;
    });
    return p;
  };
  const stats = () => JSON.parse(cli(["stats", "--json"]).stdout) as { refusals: Record<string, number> };
  const url = () => {
    const db = new Database(join(dir.path, "o.db"), { readonly: true });
    try {
      return (db.query("SELECT value FROM settings WHERE key = 'http_url'").get() as { value: string } | null)
        ?.value;
    } finally {
      db.close();
    }
  };
  return { dir, env, cli, submit, tasks, byId, lines, logged, start, stats, url };
}

/** Every start followed by its own end before the next start: one execution at a time. */
function oneAtATime(lines: string[]): boolean {
  for (let i = 0; i < lines.length; i += 2) {
    const [s, e] = [lines[i], lines[i + 1]];
    if (!s?.startsWith("start ") || e !== `end ${s.slice(6)}`) return false;
  }
  return true;
}

describe("slot pools", () => {
  test("a pool of 1 for an executor: one runs at a time, the others wait pool_full", async () => {
    const f = setup("pool", ["pools: [{ name: one-shell, executor: shell, slots: 1 }]"], 3);
    for (const id of ["p1", "p2", "p3"]) f.submit(id, { command: f.logged(id, "sleep 1") });
    f.start();

    // While one runs, the two others wait on the pool: in --json, in the REASON column, in stats.
    const seen = await waitFor("one running, two pool_full", () => {
      const ts = f.tasks();
      const running = ts.filter((t) => t.status === "running" || t.status === "dispatched");
      const full = ts.filter((t) => t.waiting?.reason === "pool_full");
      return running.length === 1 && full.length === 2 ? full : null;
    });
    expect(seen[0]!.waiting!.detail).toBe("pool one-shell 1/1");
    const table = f.cli(["tasks"]).stdout.split("\n");
    expect(table[0]).toMatch(/TASK\s+STATUS.*UPDATED\s+REASON$/);
    expect(table.filter((l) => /\bpending\b.*\bpool_full$/.test(l)).length).toBeGreaterThanOrEqual(1);
    await waitFor("pool_full in the dispatch stats", () => (f.stats().refusals.pool_full ?? 0) > 0);
    const status = f.cli(["status"]).stdout;
    expect(status).toMatch(/pools\s+one-shell \d\/1/);

    await waitFor("all three succeeded", () => f.tasks().every((t) => t.status === "succeeded"), {
      timeoutMs: 30_000,
    });
    // The ledger: each task ran exactly once, never two at a time.
    const lines = f.lines();
    expect(lines.length).toBe(6);
    expect(oneAtATime(lines)).toBe(true);
    expect(new Set(lines.filter((l) => l.startsWith("start"))).size).toBe(3);
  }, 60_000);

  test("a pool without executor or project is refused at load, naming the pool", () => {
    const f = setup("pool-bad", ["pools: [{ name: nothing, slots: 2 }]"], 1);
    const r = f.cli(["tasks"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("pools");
    expect(r.stderr).toContain("a pool selects its tasks by executor, project or both");
  });
});

describe("oyster reserve", () => {
  test("reserve 2 on a 2-slot node: nothing launches, user_team_mode; reserve off: they run", async () => {
    const f = setup("reserve", [], 2);
    const r = f.cli(["reserve", "2", "--node", "local"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("2 on local");
    expect(f.cli(["reserve", "1", "--node", "locla"]).stderr).toContain('did you mean "local"');
    for (const id of ["r1", "r2"]) f.submit(id, { command: f.logged(id, "true") });
    f.start();

    await waitFor("both wait user_team_mode", () =>
      f.tasks().every((t) => t.status === "pending" && t.waiting?.reason === "user_team_mode"),
    );
    // Held over several ticks, the reservation launches nothing.
    await waitFor(
      "user_team_mode refusals in the stats",
      () => (f.stats().refusals.user_team_mode ?? 0) >= 5,
    );
    expect(f.lines()).toEqual([]);
    expect(f.cli(["tasks"]).stdout).toMatch(/r1\s+pending.*user_team_mode/);
    expect(f.cli(["status"]).stdout).toContain("reserve 2 on local");
    const base = await waitFor("the controller's url", () => f.url());
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('oyster_reserved_slots{node="local"} 2');
    const api = (await (await fetch(`${base}/api/status`)).json()) as { fleet: { reserve: unknown } };
    expect(api.fleet.reserve).toEqual({ fleet: 0, nodes: { local: 2 } });
    const apiTasks = (await (await fetch(`${base}/api/tasks`)).json()) as TaskJson[];
    expect(apiTasks.map((t) => t.waiting?.reason)).toEqual(["user_team_mode", "user_team_mode"]);

    expect(f.cli(["reserve", "off"]).stdout).toBe("no slots reserved\n");
    await waitFor("both succeeded", () => f.tasks().every((t) => t.status === "succeeded"), {
      timeoutMs: 20_000,
    });
    expect(f.lines().sort()).toEqual(["end r1", "end r2", "start r1", "start r2"]);
  }, 60_000);
});

describe("why a task waits, and the running fleet", () => {
  test("REASON names the lock holder and the dependency; status lists the running task", async () => {
    const f = setup("reasons", [], 3);
    const release = join(f.dir.path, "release");
    const hold = `while [ ! -e '${release}' ]; do sleep 0.1; done`;
    f.submit("holder", { command: f.logged("holder", hold), modifies: ["src/a.ts"] });
    f.submit("second", { command: f.logged("second", "true"), modifies: ["src/a.ts"] });
    f.submit("after", { command: f.logged("after", "true"), depends_on: ["holder"] });
    f.start();

    const t = await waitFor("holder running, the others waiting", () => {
      const t = f.byId();
      return t.holder?.status === "running" && t.second?.waiting && t.after?.waiting ? t : null;
    });
    const db = new Database(join(f.dir.path, "o.db"), { readonly: true });
    const run = db.query("SELECT run_id FROM runs WHERE task_id = 'holder'").get() as { run_id: string };
    db.close();
    expect(t.second!.waiting).toEqual({
      reason: "modifies_locked",
      detail: `modifies src/a.ts held by task holder (run ${run.run_id} on node local)`,
    });
    expect(t.after!.waiting).toEqual({ reason: "dependency", detail: "waits on holder (running)" });
    expect(t.holder!.waiting).toBeNull();
    expect(t.holder!.updated_at_iso).toBe(new Date(t.holder!.updated_at).toISOString());

    const table = f.cli(["tasks"]).stdout;
    expect(table).toMatch(/second\s+pending.*modifies_locked/);
    expect(table).toMatch(/after\s+pending.*dependency/);
    expect(f.cli(["tasks", "-o", "wide"]).stdout.split("\n")[0]).toMatch(/REASON\s+MODIFIES/);
    const bad = f.cli(["nodes", "-o", "yaml"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('-o/--output takes only "wide", got "yaml"');
    const wide = f.cli(["tasks", "--wide"]).stdout;
    expect(wide.split("\n")[0]).toMatch(/REASON\s+MODIFIES\s+TIMEOUT\s+DETAIL\s+LAST ERROR$/);
    expect(wide).toContain(`modifies src/a.ts held by task holder (run ${run.run_id} on node local)`);
    expect(f.cli(["tasks", "show", "second"]).stdout).toContain(
      `waiting     modifies_locked: modifies src/a.ts held by task holder (run ${run.run_id} on node local)`,
    );

    const shown = JSON.parse(f.cli(["tasks", "show", "second", "--json"]).stdout) as TaskJson;
    expect(shown.waiting?.reason).toBe("modifies_locked");
    expect(f.cli(["nodes", "--wide"]).stdout.split("\n")[0]).toMatch(
      /SEEN\s+REASON\s+EXECUTORS\s+PROBED\s+LAST ERROR$/,
    );

    // `oyster status`: the running task with node, attempt and elapsed time; the top waiting reasons.
    const status = await waitFor("the running task with an elapsed time of a second or more", () => {
      const out = f.cli(["status"]).stdout;
      return new RegExp(`holder\\s+${run.run_id}\\s+local\\s+1\\s+running\\s+[1-9]\\d*s`).test(out)
        ? out
        : null;
    });
    expect(status).toMatch(/RUNNING\s+RUN\s+NODE\s+ATTEMPT\s+STATE\s+ELAPSED/);
    expect(status).toMatch(/waiting\s+.*modifies_locked 1/);
    expect(status).toMatch(/waiting\s+.*dependency 1/);
    const json = JSON.parse(f.cli(["status", "--json"]).stdout) as {
      fleet: { queue: { running: { task_id: string; started_at: number; started_at_iso: string }[] } };
    };
    const r0 = json.fleet.queue.running[0]!;
    expect(r0.task_id).toBe("holder");
    expect(r0.started_at_iso).toBe(new Date(r0.started_at).toISOString());

    // Colour only on a terminal: a pty gets the STATUS cell coloured, NO_COLOR and a pipe do not.
    const tty = (env: Record<string, string>) =>
      Bun.spawnSync(["script", "-qec", `'${OYSTER_BIN}' tasks`, "/dev/null"], {
        cwd: f.dir.path,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", TERM: "xterm", ...f.env, ...env },
        stdout: "pipe",
        stderr: "pipe",
      }).stdout.toString();
    expect(tty({})).toContain("\u001b[33mpending\u001b[0m");
    expect(tty({ NO_COLOR: "1" })).not.toContain("\u001b[");
    const piped = Bun.spawnSync([OYSTER_BIN, "tasks"], {
      cwd: f.dir.path,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...f.env },
      stdout: "pipe",
    }).stdout.toString();
    expect(piped).toContain("pending");
    expect(piped).not.toContain("\u001b[");

    writeFileSync(release, "");
    await waitFor("all succeeded", () => f.tasks().every((x) => x.status === "succeeded"), {
      timeoutMs: 20_000,
    });
    expect(
      f
        .lines()
        .filter((l) => l.startsWith("start"))
        .sort(),
    ).toEqual(["start after", "start holder", "start second"]);
  }, 60_000);
});
