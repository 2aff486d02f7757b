import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, OYSTER_BIN, oyster, tempDir, waitFor } from "../helpers/cli.ts";

/**
 * Issue 9.3 on the built binary: a placeholder inside a shell script is refused when the config
 * loads; `{command}` as the whole script and placeholders as whole arguments still work, and every
 * placeholder reaches executors and hooks as an OYSTER_* variable.
 */
const dir = tempDir("oyster-e2e-templates-");
afterAll(dir.cleanup);

// The repro: this project name ran `id` on the controller through the hook below.
const HOSTILE_PROJECT = "x; id > pwned #";

const spec = (id: string, fm: Record<string, unknown>) =>
  `---\n${Object.entries({ task_id: id, ...fm })
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join("\n")}\n---\nbody of ${id}\n`;

describe("shell templates", () => {
  test("a {placeholder} inside an sh -c hook script is refused at load, naming the key and the variable to use", () => {
    const cwd = join(dir.path, "refused");
    mkdirSync(cwd);
    writeFileSync(
      join(cwd, "oyster.yaml"),
      `store: ./o.db\nfactory:\n  on_project_complete: ["sh", "-c", "echo {project} done"]\n`,
    );
    for (const args of [["run"], ["tasks"]]) {
      const r = oyster(args, { cwd, timeoutMs: 20_000 });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("factory.on_project_complete[2]");
      expect(r.stderr).toContain("{project}");
      expect(r.stderr).toContain('"$OYSTER_PROJECT"');
    }
    expect(existsSync(join(cwd, "o.db"))).toBe(false);
  });

  test("an executor embedding {command} or {task_id} in its script is refused; one that is exactly {command} is not", () => {
    const cwd = join(dir.path, "executors");
    mkdirSync(cwd);
    writeFileSync(
      join(cwd, "oyster.yaml"),
      `store: ./o.db\nexecutors:\n  wrapped: { command: ["bash", "-euo", "pipefail", "-c", "cd /tmp && {command} # {task_id}"] }\n`,
    );
    const r = oyster(["tasks"], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("executors.wrapped.command[4]");
    expect(r.stderr).toContain('"$OYSTER_COMMAND", "$OYSTER_TASK_ID"');
    expect(r.stderr).toContain("exactly {command}");

    writeFileSync(
      join(cwd, "oyster.yaml"),
      `store: ./o.db\nexecutors:\n  strict: { command: ["bash", "-euo", "pipefail", "-c", "{command}"] }\n`,
    );
    // Any command that loads the config will do; a dry-run submit needs no store.
    writeFileSync(join(cwd, "t.md"), "---\ntask_id: t1\nexecutor: strict\ncommand: echo hi\n---\nbody\n");
    const ok = oyster(["submit", "--dry-run", "t.md"], { cwd });
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
  });

  test("{command} scripts, whole-argument placeholders and OYSTER_* variables work for executors and hooks", async () => {
    const cwd = join(dir.path, "runs");
    const home = join(cwd, "node-home");
    mkdirSync(join(cwd, "specs"), { recursive: true });
    const ledger = join(cwd, "ledger.txt");
    const envDump = join(cwd, "executor-env.txt");
    writeFileSync(
      join(cwd, "oyster.yaml"),
      [
        "store: ./o.db",
        "http: { port: 0 }",
        `nodes: [{ name: local, transport: local, slots: 2, oyster_home: ${JSON.stringify(home)} }]`,
        "loops: { scheduler: { interval: 100ms }, reaper: { interval: 500ms }, factory: { interval: 100ms } }",
        "executors:",
        // Placeholders as whole arguments, read by the script as $1 $2: data, never code.
        `  args: { command: ["sh", "-c", "printf '%s|%s|%s\\\\n' \\"$1\\" \\"$2\\" \\"$OYSTER_PRIORITY\\" >> ${ledger}", "sh", "{task_id}", "{project}"] }`,
        "factory:",
        `  on_project_complete: ["sh", "-c", "printf 'hook|%s|%s|%s\\\\n' \\"$OYSTER_PROJECT\\" \\"$1\\" \\"$OYSTER_INBOX\\" >> ${ledger}", "sh", "{project}"]`,
      ].join("\n"),
    );
    writeFileSync(
      join(cwd, "specs", "a.md"),
      spec("env-a", {
        project: HOSTILE_PROJECT,
        command: `env | grep '^OYSTER_' | sort > ${envDump}`,
      }),
    );
    writeFileSync(
      join(cwd, "specs", "b.md"),
      spec("args-b", { project: HOSTILE_PROJECT, executor: "args", priority: 7 }),
    );
    const env = { OYSTER_HOME: home };
    expect(oyster(["submit", "specs"], { cwd, env }).code).toBe(0);

    const run = Bun.spawn([OYSTER_BIN, "run"], {
      cwd,
      env: cleanEnv({ ...env, NO_COLOR: "1" }),
      stdout: "ignore",
      stderr: "pipe",
    });
    try {
      const lines = await waitFor(
        "both runs and the project hook in the ledger",
        () => {
          const l = existsSync(ledger) ? readFileSync(ledger, "utf8").trim().split("\n") : [];
          return l.length >= 2 && l.some((x) => x.startsWith("hook|")) ? l : null;
        },
        { timeoutMs: 30_000 },
      );
      const inbox = join(cwd, "specs", "inbox");
      expect(lines.sort()).toEqual(
        [`args-b|${HOSTILE_PROJECT}|7`, `hook|${HOSTILE_PROJECT}|${HOSTILE_PROJECT}|${inbox}`].sort(),
      );

      const vars = Object.fromEntries(
        readFileSync(envDump, "utf8")
          .trim()
          .split("\n")
          .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
      );
      const db = new Database(join(cwd, "o.db"), { readonly: true });
      const r = db.query("SELECT run_id FROM runs WHERE task_id = 'env-a'").get() as { run_id: string };
      db.close();
      const runDir = join(home, "runs", r.run_id);
      expect(vars).toMatchObject({
        OYSTER_TASK_ID: "env-a",
        OYSTER_RUN_ID: r.run_id,
        OYSTER_PROJECT: HOSTILE_PROJECT,
        OYSTER_ATTEMPT: "1",
        OYSTER_PRIORITY: "5",
        OYSTER_COMMAND: `env | grep '^OYSTER_' | sort > ${envDump}`,
        OYSTER_SPEC: join(runDir, "spec.md"),
        OYSTER_RUN_DIR: runDir,
        OYSTER_OUTPUT: join(runDir, "output.log"),
      });
      // The project name never ran as code, on the node or on the controller.
      expect(existsSync(join(cwd, "pwned"))).toBe(false);
      expect(existsSync(join(runDir, "pwned"))).toBe(false);
    } finally {
      run.kill("SIGTERM");
      await run.exited;
    }
  }, 60_000);
});
