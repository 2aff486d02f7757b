import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, OYSTER_BIN, oyster, tempDir } from "../helpers/cli.ts";

/**
 * Issue 9.7 on the built binary: ids and names from a spec that hold escape sequences are printed
 * inert by `oyster tasks`, `tasks show`, `status` and the controller's log, while `--json` keeps
 * the exact characters.
 */
const dir = tempDir("oyster-e2e-terminal-");
afterAll(dir.cleanup);

// Recolour, retitle the window (OSC … BEL), clear the screen; in the id: the one-character C1 CSI
// and a right-to-left override (control characters below U+0020 are refused in ids already).
const PROJECT = "\u001b[31mred\u001b]0;owned\u0007\u001b[2J";
const TASK = "t-\u009b31m-\u202eevil";
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding raw control characters is the point
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

describe("what reaches a terminal", () => {
  const env = { OYSTER_HOME: join(dir.path, "node-home") };
  const run = (args: string[]) => oyster(args, { cwd: dir.path, env });

  test("a project and task id with escape sequences go in and run", async () => {
    mkdirSync(join(dir.path, "specs"));
    // Written with YAML escapes so the file itself is plain text.
    writeFileSync(
      join(dir.path, "specs", "evil.md"),
      `---\ntask_id: "t-\\x9b31m-\\u202eevil"\nproject: "\\e[31mred\\e]0;owned\\a\\e[2J"\ncommand: "true"\n---\nbody\n`,
    );
    writeFileSync(
      join(dir.path, "oyster.yaml"),
      [
        "store: ./o.db",
        "http: { port: 0 }",
        `nodes: [{ name: local, transport: local, slots: 1, oyster_home: ${JSON.stringify(env.OYSTER_HOME)} }]`,
        "loops: { scheduler: { interval: 100ms }, reaper: { interval: 500ms }, factory: { interval: 100ms } }",
      ].join("\n"),
    );
    const submitted = run(["submit", "specs"]);
    expect(submitted.code).toBe(0);
    expect(submitted.stdout).not.toMatch(RAW);
    expect(submitted.stdout).toContain("\\e[31mred\\e]0;owned\\x07\\e[2J");

    const p = Bun.spawn([OYSTER_BIN, "run", "--until-done"], {
      cwd: dir.path,
      env: cleanEnv({ ...env, NO_COLOR: "1" }),
      stdout: "pipe",
      stderr: "pipe",
    });
    const code = await Promise.race([p.exited, Bun.sleep(30_000).then(() => "timeout" as const)]);
    if (code === "timeout") p.kill("SIGKILL");
    const [out, err] = [await new Response(p.stdout).text(), await new Response(p.stderr).text()];
    expect(code).toBe(0);
    // The controller names the task and project in its progress and log lines: inert there too.
    expect(`${out}${err}`).not.toMatch(RAW);
  }, 40_000);

  test("oyster tasks and tasks show print the names inert, aligned", () => {
    const list = run(["tasks"]);
    expect(list.code).toBe(0);
    expect(list.stdout).not.toMatch(RAW);
    expect(list.stdout).toContain("t-\\x9b31m-\\u202eevil");
    expect(list.stdout).toContain("\\e[31mred\\e]0;owned\\x07\\e[2J");

    const show = run(["tasks", "show", TASK]);
    expect(show.code).toBe(0);
    expect(show.stdout).not.toMatch(RAW);
    expect(show.stdout).toContain("task        t-\\x9b31m-\\u202eevil\n");
    expect(show.stdout).toContain("project     \\e[31mred\\e]0;owned\\x07\\e[2J\n");

    const missing = run(["tasks", "show", "no-\u001b[5m-such"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no task named "no-\\e[5m-such"');
  });

  test("oyster status prints the names inert", () => {
    const status = run(["status"]);
    expect(status.stdout).not.toMatch(RAW);
    expect(status.stdout).toContain("t-\\x9b31m-\\u202eevil");
  });

  test("--json keeps the exact characters", () => {
    const list = JSON.parse(run(["tasks", "--json"]).stdout) as { task_id: string; project: string }[];
    expect(list.map((t) => [t.task_id, t.project])).toEqual([[TASK, PROJECT]]);
    const show = JSON.parse(run(["tasks", "show", TASK, "--json"]).stdout) as { project: string };
    expect(show.project).toBe(PROJECT);
  });
});
