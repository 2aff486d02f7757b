import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { oyster, tempDir } from "../helpers/cli.ts";

/**
 * Issue 11.1 on the built binary: an unknown flag or a surplus argument is a usage error (exit 2,
 * did-you-mean) on every command, checked before anything runs; cancel and retry take several ids.
 */
const dir = tempDir("oyster-e2e-strict-");
afterAll(dir.cleanup);
const cwd = dir.path;
const run = (...args: string[]) => oyster(args, { cwd });

describe("strict command lines", () => {
  test("`submit --dryrun` is refused with did-you-mean and writes nothing", () => {
    mkdirSync(join(cwd, "specs"));
    for (const id of ["m1", "m2"])
      writeFileSync(join(cwd, "specs", `${id}.md`), `---\ntask_id: ${id}\ncommand: "true"\n---\n`);
    writeFileSync(join(cwd, "oyster.yaml"), "store: ./o.db\n");
    const r = run("submit", "specs", "--dryrun");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown flag --dryrun for `oyster submit` (did you mean --dry-run?)");
    expect(existsSync(join(cwd, "o.db"))).toBe(false);
    expect(run("submit", "specs").code).toBe(0);
  });

  test("unknown flags, values on switches and surplus arguments exit 2 on every kind of command", () => {
    const cases: [string[], string][] = [
      [["tasks", "--stauts", "dead"], "unknown flag --stauts for `oyster tasks` (did you mean --status?)"],
      [["tasks", "--json=maybe"], "--json is a switch and takes no value"],
      [["tasks", "show", "m1", "m2"], 'unexpected argument "m2" for `oyster tasks show` (it takes one ID)'],
      [["tasks", "--json", "show", "m1"], "--json must come after the command: `oyster tasks show --json`"],
      [["status", "--jsn"], "(did you mean --json?)"],
      [["exec", "list", "--hme", "/tmp"], "unknown flag --hme for `oyster exec list` (did you mean --home?)"],
      [["exec", "kill", "r1", "r2"], 'unexpected argument "r2" for `oyster exec kill`'],
      [["supervise", "logs", "a", "b"], 'unexpected argument "b" for `oyster supervise logs`'],
      [["supervise", "--print-unt", "systemd"], "(did you mean --print-unit?)"],
      [["run", "--until-don"], "(did you mean --until-done?)"],
      [["taks"], 'unknown command "taks" for `oyster` (did you mean "tasks"?)'],
    ];
    for (const [args, message] of cases) {
      const r = run(...args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toContain(message);
    }
  });

  test("`tasks cancel` takes several ids and reports each; an unknown one fails the command", () => {
    const r = run("tasks", "cancel", "m1", "nope", "m2");
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("m1: pending → cancelled\nm2: pending → cancelled\n");
    expect(r.stderr).toContain('no task named "nope"');
    const db = new Database(join(cwd, "o.db"), { readonly: true });
    const rows = db.query("SELECT task_id, status FROM tasks ORDER BY task_id").all();
    db.close();
    expect(rows).toEqual([
      { task_id: "m1", status: "cancelled" },
      { task_id: "m2", status: "cancelled" },
    ]);
    const retried = run("tasks", "retry", "m1", "m2");
    expect(retried.code).toBe(0);
    expect(retried.stdout).toBe("m1: cancelled → pending\nm2: cancelled → pending\n");
  });

  test("`nodes install` with unknown names refuses them all before copying anything", () => {
    const r = run("nodes", "install", "gpu1", "gpu2");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no node named "gpu1", "gpu2" in config');
  });
});
