import { afterAll, expect, test } from "bun:test";
import { cleanEnv, OYSTER_BIN, oyster, tempDir, waitFor } from "../helpers/cli.ts";

/** `oyster exec` from the built binary, as a node runs it. */
const home = tempDir("oyster-exec-cli-");
afterAll(() => {
  const r = oyster(["exec", "list", "--json", "--home", home.path], { cwd: home.path });
  for (const s of JSON.parse(r.stdout || "[]") as { pid: number | null }[])
    if (s.pid)
      try {
        process.kill(-s.pid, "SIGKILL");
      } catch {}
  home.cleanup();
});

function startRun(req: unknown) {
  const p = Bun.spawnSync([OYSTER_BIN, "exec", "start", "--home", home.path], {
    stdin: Buffer.from(JSON.stringify(req)),
    env: cleanEnv({ OYSTER_HEARTBEAT_MS: "100" }),
  });
  return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

test("start (JSON on stdin) → list → kill, and usage errors", async () => {
  const s = startRun({ run_id: "cli-1", task_id: "t", spec: "x", argv: ["sleep", "30"], vars: {} });
  expect(s.code).toBe(0);
  expect(JSON.parse(s.stdout)).toMatchObject({ run_id: "cli-1" });
  expect(["starting", "running"]).toContain(JSON.parse(s.stdout).state);
  await waitFor("listed as running", () =>
    /cli-1\s+t\s+running/.test(oyster(["exec", "list", "--home", home.path], { cwd: home.path }).stdout),
  );
  const k = oyster(["exec", "kill", "cli-1", "--grace", "1s", "--home", home.path], { cwd: home.path });
  expect(k).toMatchObject({ code: 0, stdout: "run cli-1 killed\n" });
  const again = oyster(["exec", "kill", "nope", "--home", home.path], { cwd: home.path });
  expect(again).toMatchObject({ code: 0, stdout: "no run nope on this node\n" });
  const bad = startRun({ run_id: "../x", task_id: "t", spec: "", argv: ["true"] });
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("invalid run id");
  const badKill = oyster(["exec", "kill", "..", "--home", home.path], { cwd: home.path });
  expect(badKill.code).toBe(2);
  const res = JSON.parse(oyster(["exec", "resources", "--json"], { cwd: home.path }).stdout);
  expect(res.cpus).toBeGreaterThan(0);
  await waitFor(
    "status final",
    () =>
      JSON.parse(oyster(["exec", "list", "--json", "--home", home.path], { cwd: home.path }).stdout)[0]
        ?.state === "killed",
  );
});

test("--home defaults to $OYSTER_HOME and expands ~/", () => {
  const r = oyster(["exec", "list", "--json"], { cwd: home.path, env: { OYSTER_HOME: home.path } });
  expect(JSON.parse(r.stdout).map((s: { run_id: string }) => s.run_id)).toEqual(["cli-1"]);
  const t = oyster(["exec", "list", "--json", "--home", "~/nonexistent-oyster-home"], {
    cwd: home.path,
    env: { HOME: home.path },
  });
  expect(t).toMatchObject({ code: 0, stdout: "[]\n" });
});
