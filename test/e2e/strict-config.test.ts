import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, OYSTER_BIN, oyster, tempDir, waitFor } from "../helpers/cli.ts";

/**
 * Issue 11.3 on the built binary: durations need a unit, config errors name the node and offer
 * did-you-mean, a bad OYSTER_* value is blamed on the variable, and nested optional keys can be
 * set from the environment.
 */
const dir = tempDir("oyster-e2e-strict-config-");
afterAll(dir.cleanup);

function setup(name: string, yaml: string): string {
  const cwd = join(dir.path, name);
  mkdirSync(cwd);
  writeFileSync(join(cwd, "oyster.yaml"), `store: ./o.db\n${yaml}`);
  return cwd;
}

describe("strict config and durations", () => {
  test("a spec with `timeout: 300` is refused: 300 has no unit", () => {
    const cwd = setup("spec-timeout", "");
    writeFileSync(join(cwd, "a.md"), '---\ntask_id: a\ncommand: "sleep 2"\ntimeout: 300\n---\n');
    const r = oyster(["submit", "a.md"], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("timeout: 300 has no unit: write 300s or 5m");
    writeFileSync(join(cwd, "a.md"), '---\ntask_id: a\ncommand: "sleep 2"\ntimeout: -5m\n---\n');
    expect(oyster(["submit", "a.md"], { cwd }).stderr).toContain("-5m is negative");
  });

  test("a bare number for a config duration, a misspelt node key: each named, with advice", () => {
    const cwd = setup(
      "config",
      "loops: { scheduler: { interval: 10 } }\nnodes:\n  - { name: gpu1, transport: local, slot: 3 }\n",
    );
    const r = oyster(["tasks"], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("loops.scheduler.interval: 10 has no unit: write 10s or 10ms");
    expect(r.stderr).toContain('nodes["gpu1"]: unknown key(s): slot (did you mean "slots"?)');
  });

  test("a bad OYSTER_* value is blamed on the variable", () => {
    const cwd = setup("env", "");
    const r = oyster(["tasks"], {
      cwd,
      env: { OYSTER_HTTP_PORT: "abc", OYSTER_LOOPS_SCHEDULER_INTERVAL: "10" },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("invalid config from the environment:");
    expect(r.stderr).toContain('OYSTER_HTTP_PORT="abc" (http.port)');
    expect(r.stderr).toContain(
      'OYSTER_LOOPS_SCHEDULER_INTERVAL="10" (loops.scheduler.interval): 10 has no unit',
    );
  });

  test("OYSTER_LOOPS_REAPER_UNHEALTHY_AFTER reaches the running controller", async () => {
    const cwd = setup(
      "env-run",
      `http: { port: 0 }\nnodes: [{ name: local, transport: local, oyster_home: ${JSON.stringify(join(dir.path, "home"))} }]\n`,
    );
    const p = Bun.spawn([OYSTER_BIN, "run"], {
      cwd,
      env: cleanEnv({ NO_COLOR: "1", OYSTER_LOOPS_REAPER_UNHEALTHY_AFTER: "42m" }),
      stdout: "ignore",
      stderr: "ignore",
    });
    try {
      const loops = await waitFor("the controller's loops in oyster status", () => {
        const r = oyster(["status", "--json"], { cwd });
        if (r.code !== 0) return null;
        const s = JSON.parse(r.stdout) as {
          controller: { health: { loops: Record<string, { unhealthy_after_s: number }> } | null };
        };
        return s.controller.health?.loops ?? null;
      });
      expect(loops.reaper?.unhealthy_after_s).toBe(42 * 60);
    } finally {
      p.kill("SIGTERM");
      await p.exited;
    }
  }, 30_000);
});
