import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, OYSTER_BIN, oyster, tempDir } from "../helpers/cli.ts";

/**
 * Issue 10.8 on the built binary: what a command prints reaches a pipe whole before the process
 * exits. A pipe takes 64 KiB before its reader catches up; exiting without waiting cut the rest.
 */
const dir = tempDir("oyster-e2e-output-");
afterAll(dir.cleanup);
writeFileSync(join(dir.path, "oyster.yaml"), "store: ./o.db\n");

/** `oyster ARGS | cat` in bash: the reader is a real pipe, as in a user's shell; oyster's exit code. */
function throughPipe(args: string[], stream: "stdout" | "stderr" = "stdout") {
  const redirect = stream === "stdout" ? "" : "2>&1 >/dev/null";
  const script = `"$0" "$@" ${redirect} | cat; exit "\${PIPESTATUS[0]}"`;
  const p = Bun.spawnSync(["bash", "-c", script, OYSTER_BIN, ...args], {
    cwd: dir.path,
    env: cleanEnv({ NO_COLOR: "1" }),
    stdout: "pipe",
    stderr: "pipe",
    timeout: 60_000,
  });
  return { out: p.stdout.toString(), code: p.exitCode };
}

describe("output through a pipe is complete", () => {
  test("oyster tasks --json of 100,000 tasks parses and holds every task", () => {
    // A submit creates the store (read commands never do); the bulk goes in by SQL beside it.
    writeFileSync(join(dir.path, "seed.md"), '---\ntask_id: bulk-seed\ncommand: "true"\n---\nseed\n');
    expect(oyster(["submit", "seed.md"], { cwd: dir.path }).code).toBe(0);
    const db = new Database(join(dir.path, "o.db"));
    const ins = db.query(
      "INSERT INTO tasks (task_id, executor, command, max_attempts, priority, status, created_at, updated_at) VALUES (?, 'shell', 'true', 3, 5, 'pending', ?, ?)",
    );
    db.transaction(() => {
      for (let i = 0; i < 100_000; i++) ins.run(`bulk-${String(i).padStart(6, "0")}`, i, i);
    })();
    db.close();
    const r = throughPipe(["tasks", "--json", "--limit", "100000"]);
    expect(r.code).toBe(0);
    expect(r.out.length).toBeGreaterThan(10 * 1024 * 1024);
    const rows = JSON.parse(r.out) as { task_id: string }[];
    expect(rows).toHaveLength(100_000);
    expect(new Set(rows.map((t) => t.task_id)).size).toBe(100_000);
  });

  test("oyster exec list --json of 20,000 run directories parses and holds every run", () => {
    const home = join(dir.path, "node-home");
    for (let i = 0; i < 20_000; i++) {
      const id = `r${String(i).padStart(5, "0")}`;
      mkdirSync(join(home, "runs", id), { recursive: true });
      writeFileSync(
        join(home, "runs", id, "status.json"),
        JSON.stringify({
          run_id: id,
          task_id: `t${i}`,
          pid: null,
          wrapper_pid: null,
          state: "succeeded",
          started_at: 1_700_000_000_000 + i,
          heartbeat_at: 1_700_000_000_000 + i,
          finished_at: 1_700_000_001_000 + i,
          exit_code: 0,
          wrapper_version: "test",
        }),
      );
    }
    const r = throughPipe(["exec", "list", "--json", "--home", home]);
    expect(r.code).toBe(0);
    const runs = JSON.parse(r.out) as { run_id: string }[];
    expect(runs).toHaveLength(20_000);
    expect(runs.at(-1)?.run_id).toBe("r19999");
    // What the reaper asks for instead: runs not yet over, and the ones it names.
    const some = throughPipe([
      "exec",
      "list",
      "--json",
      "--home",
      home,
      "--active",
      "--runs",
      "r00007,r12345,nope",
    ]);
    expect((JSON.parse(some.out) as { run_id: string }[]).map((s) => s.run_id)).toEqual(["r00007", "r12345"]);
  }, 120_000); // 20k directories to write first: slow on a busy disk

  test("a long error report on stderr is complete too", () => {
    const specs = join(dir.path, "broken");
    mkdirSync(specs);
    for (let i = 0; i < 1_000; i++) writeFileSync(join(specs, `broken-${i}.md`), "no front matter at all\n");
    const r = throughPipe(["submit", specs], "stderr");
    expect(r.out.length).toBeGreaterThan(64 * 1024);
    expect(r.out.match(/no YAML front matter/g)).toHaveLength(1_000);
    expect(r.out).toContain("broken-999.md");
  });
});
