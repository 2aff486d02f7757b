import { expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { oyster, spawnController, waitFor } from "../helpers/cli.ts";
import { controllerSandbox, localNode } from "../helpers/controller.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * Issue 11.5 on the built binary: a test reaches only what it chose. With `http.port: 0` and no
 * controller running, the CLI has no port to ask and says so instead of connecting to port 0;
 * and an operator's OYSTER_* variables in the runner's environment reach no process a test starts.
 */
const sandbox = controllerSandbox("oyster-e2e-isolation-");

function setup(): string {
  const dir = sandbox.configured([
    localNode(1),
    // The reaper is the fallback when a very short run's end is not pushed; keep it prompt.
    "loops: { scheduler: { interval: 100ms }, reaper: { interval: 1s } }",
  ]);
  writeFileSync(join(dir, "a.md"), '---\ntask_id: a\ncommand: "true"\n---\nquick\n');
  return dir;
}

test("with http.port 0 and no controller, status and health say there is no port to ask", () => {
  const cwd = setup();
  expect(oyster(["submit", "a.md"], { cwd }).code).toBe(0);
  const why = "port 0 cannot be asked — with http.port 0, `oyster run` picks a free port";
  const st = oyster(["status"], { cwd });
  expect(st.stdout).toContain(`controller  DOWN — controller not reachable at http://127.0.0.1:0: ${why}`);
  expect(st.stdout).toContain("1 pending");
  const h = oyster(["health"], { cwd });
  expect(h.code).toBe(1);
  expect(h.stdout).toContain(why);
});

test("an operator's OYSTER_CONFIG and OYSTER_STORE reach no controller or CLI a test starts", async () => {
  const operator = sandbox.dir("oyster-e2e-operator-");
  const theirs = join(operator, "theirs.db");
  writeFileSync(join(operator, "oyster.yaml"), `store: ${theirs}\nhttp: { port: 0 }\n`);
  const saved = { config: process.env.OYSTER_CONFIG, store: process.env.OYSTER_STORE };
  process.env.OYSTER_CONFIG = join(operator, "oyster.yaml");
  process.env.OYSTER_STORE = theirs;
  try {
    const cwd = setup();
    sandbox.track(spawnController(cwd));
    expect(oyster(["submit", "a.md"], { cwd }).code).toBe(0);
    const { q } = storeReader(join(cwd, "o.db"));
    await waitFor(
      "task a to succeed in the test's own store",
      () => q<{ status: string }>("SELECT status FROM tasks WHERE task_id = 'a'")[0]?.status === "succeeded",
    );
    expect(existsSync(theirs)).toBe(false);
  } finally {
    for (const [k, v] of [
      ["OYSTER_CONFIG", saved.config],
      ["OYSTER_STORE", saved.store],
    ] as const)
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
});
