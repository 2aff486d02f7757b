import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { oyster, REPO_ROOT, tempDir } from "../helpers/cli.ts";

// The original requirement specs, vendored so a clean clone tests them too.
const SEEDS = resolve(REPO_ROOT, "test/fixtures/seeds");
const seed = (n: string) => join(SEEDS, readdirSync(SEEDS).find((f) => f.startsWith(`${n}_`))!);

const dir = tempDir("oyster-e2e-intake-");
afterAll(dir.cleanup);
const run = (args: string[]) => oyster(args, { cwd: dir.path });
const snapshot = () => run(["tasks", "--json"]).stdout;

describe("spec intake from the built binary", () => {
  test("the seed specs: 000 alone is refused naming the missing dependency; with 001/002 and --allow-missing-deps accepted", () => {
    const alone = run(["submit", seed("000")]);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toContain('unknown dependency "S01-db-abstraction"');
    expect(alone.stderr).not.toContain("    at ");
    const dry = run([
      "submit",
      seed("001"),
      seed("002"),
      seed("000"),
      "--allow-missing-deps",
      "--dry-run",
      "--json",
    ]);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout).accepted.map((t: { task_id: string }) => t.task_id)).toEqual([
      "DI09-consolidate-daemons",
      "S04-health-endpoints",
      "S06-supervisor-watchdog",
    ]);
    expect(JSON.parse(snapshot())).toEqual([]);
    expect(run(["submit", seed("000"), seed("001"), seed("002"), "--allow-missing-deps"]).code).toBe(0);
    const show = JSON.parse(run(["tasks", "show", "S04-health-endpoints", "--json"]).stdout);
    expect(show).toMatchObject({
      status: "pending",
      project: "dispatch-productize",
      priority: 1,
      executor: "glm",
    });
    expect(show.depends_on).toEqual([{ task_id: "S01-db-abstraction", status: null }]);
  });

  test("003 and 004 have no front matter and are refused; a refused batch leaves the store unchanged", () => {
    const before = snapshot();
    const r = run(["submit", seed("003"), seed("004")]);
    expect(r.code).toBe(1);
    expect(r.stderr.match(/no YAML front matter/g)).toHaveLength(2);
    expect(snapshot()).toBe(before);
  });

  test("every problem of a batch is reported at once, and nothing of it is written", () => {
    const d = join(dir.path, "bad");
    mkdirSync(join(d, "sub.md"), { recursive: true });
    writeFileSync(join(d, "good.md"), "---\ntask_id: fine\ncommand: true\n---\n");
    writeFileSync(join(d, "cycle1.md"), "---\ntask_id: c1\ndepends_on: [c2]\ncommand: x\n---\n");
    writeFileSync(join(d, "cycle2.md"), "---\ntask_id: c2\ndepends_on: [c1]\ncommand: x\n---\n");
    writeFileSync(join(d, "types.md"), "---\ntask_id: t\npriority: soon\ncommand: x\n---\n");
    writeFileSync(join(d, "garbage.txt"), new Uint8Array([0, 159, 146, 150, 1, 2]));
    writeFileSync(join(d, "latin1.md"), new Uint8Array([0x2d, 0x2d, 0x2d, 0x0a, 0xe9, 0x0a]));
    writeFileSync(join(d, "slash.md"), "---\ntask_id: a/../b\ncommand: x\n---\n");
    const before = snapshot();
    const r = run(["submit", d, join(dir.path, "missing.md")]);
    expect(r.code).toBe(1);
    for (const needle of [
      "dependency cycle: c1 -> c2 -> c1",
      "priority",
      "binary data",
      "not valid UTF-8",
      "'/'",
      "no such file or directory",
    ])
      expect(r.stderr).toContain(needle);
    expect(snapshot()).toBe(before);
  });

  test("submit, list with filters, show, cancel and retry", () => {
    const d = join(dir.path, "ok");
    mkdirSync(d);
    writeFileSync(join(d, "a.md"), "---\ntask_id: ok-a\nproject: demo\ncommand: echo a\n---\nA\n");
    writeFileSync(
      join(d, "b.md"),
      "---\ntask_id: ok-b\nproject: demo\ndepends_on: [ok-a]\ncommand: echo b\n---\nB\n",
    );
    const sub = run(["submit", d]);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain("submitted 2 task(s)");
    expect(run(["submit", d]).stderr).toContain('"ok-a" already exists in the store');
    const listed = JSON.parse(run(["tasks", "--project", "demo", "--json"]).stdout);
    expect(listed.map((t: { task_id: string }) => t.task_id)).toEqual(["ok-a", "ok-b"]);
    expect(run(["tasks", "--status", "nonsense"]).code).toBe(2);
    expect(run(["tasks", "cancel", "ok-b"]).stdout).toContain("pending → cancelled");
    expect(run(["tasks", "cancel", "ok-b"]).code).toBe(1);
    expect(run(["tasks", "retry", "ok-b"]).stdout).toContain("cancelled → pending");
    expect(run(["tasks", "retry", "ok-a"]).stderr).toContain(
      'task "ok-a" is pending; only failed, dead, cancelled, blocked or succeeded tasks can be retried',
    );
    expect(run(["tasks", "show", "nope"]).stderr).toContain('no task named "nope"');
    const table = run(["tasks"]).stdout.split("\n");
    expect(table[0]).toMatch(/^TASK\s+STATUS\s+PRI\s+PROJECT/);
  });

  test("nodes come from config and are recorded in the store", () => {
    const n = JSON.parse(run(["nodes", "--json"]).stdout);
    expect(n).toEqual([expect.objectContaining({ name: "local", transport: "local", slots: 2 })]);
    expect(run(["nodes"]).stdout).toMatch(/^NODE\s+TRANSPORT/);
  });

  test("the store file is created with mode 0600", () => {
    const st = statSync(join(dir.path, "oyster.db"));
    expect(st.mode & 0o777).toBe(0o600);
  });
});
