import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { oyster, tempDir } from "../helpers/cli.ts";

/**
 * Issue 11.2 on the built binary: a typo in a spec's front matter is refused with did-you-mean
 * (it used to pass, and the task lost its dependencies); `x-` keys are kept and shown.
 */
const dir = tempDir("oyster-e2e-spec-keys-");
afterAll(dir.cleanup);
const cwd = dir.path;
const run = (...args: string[]) => oyster(args, { cwd });

describe("spec front-matter keys", () => {
  test("`dependson:` refuses the whole batch, naming the file, the key and the right spelling", () => {
    mkdirSync(join(cwd, "bad"));
    writeFileSync(join(cwd, "oyster.yaml"), "store: ./o.db\n");
    writeFileSync(join(cwd, "bad", "a.md"), '---\ntask_id: a\ncommand: "true"\n---\n');
    writeFileSync(
      join(cwd, "bad", "b.md"),
      '---\ntask_id: b\ncommand: "true"\ndependson: [a]\nmodfies: [x.py]\n---\n',
    );
    const r = run("submit", "bad");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("nothing was submitted");
    expect(r.stderr).toMatch(/b\.md.*dependson.*unknown key \(did you mean "depends_on"\?\)/);
    expect(r.stderr).toMatch(/b\.md.*modfies.*unknown key \(did you mean "modifies"\?\)/);
    if (existsSync(join(cwd, "o.db"))) {
      const db = new Database(join(cwd, "o.db"), { readonly: true });
      expect(db.query("SELECT COUNT(*) AS n FROM tasks").get()).toEqual({ n: 0 });
      db.close();
    }
  });

  test("x- keys are stored with the task and shown by `tasks show`, exactly in --json", () => {
    mkdirSync(join(cwd, "good"));
    writeFileSync(
      join(cwd, "good", "c.md"),
      '---\ntask_id: c\ncommand: "true"\nx-owner: team-a\nx-ticket: { id: 42, tags: [ops] }\n---\nbody\n',
    );
    expect(run("submit", "good").code).toBe(0);
    const show = run("tasks", "show", "c");
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('x-owner     "team-a"\n');
    expect(show.stdout).toContain('x-ticket    {"id":42,"tags":["ops"]}\n');
    const json = JSON.parse(run("tasks", "show", "c", "--json").stdout) as { extra: unknown };
    expect(json.extra).toEqual({ "x-owner": "team-a", "x-ticket": { id: 42, tags: ["ops"] } });
    const list = JSON.parse(run("tasks", "--json").stdout) as { task_id: string; extra: unknown }[];
    expect(list.find((t) => t.task_id === "c")?.extra).toEqual(json.extra);
  });
});
