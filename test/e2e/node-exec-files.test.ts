import { afterAll, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  lstatSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { OYSTER_BIN, tempDir, waitFor } from "../helpers/cli.ts";
import { groupMembers, killGroupNow } from "../helpers/procs.ts";

/**
 * The node side (`oyster exec`) from the built binary, run as `nobody` (root ignores directory
 * permissions), against what the run's own executor — the same user, in the run dir — can do:
 * swap status.json for a symlink, or leave the run dir unwritable so the kill marker cannot be
 * written. (Through a controller, a status that is briefly a symlink could be listed as absent
 * by a reaper sweep that lands in those milliseconds, so this runs without one.)
 */
const NOBODY = 65534;
const tmp = tempDir("oyster-exec-kill-");
const home = join(tmp.path, "home");
const bin = join(tmp.path, "oyster");
const groups: number[] = [];

afterAll(() => {
  for (const pgid of groups) killGroupNow(pgid);
  tmp.cleanup();
});

/** Run the built binary as nobody, with a clean OYSTER_* environment. */
function asNobody(args: string[], stdin?: string) {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    OYSTER_HEARTBEAT_MS: "100",
  };
  const p = Bun.spawnSync(
    ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", bin, ...args, "--home", home],
    { stdin: stdin ? Buffer.from(stdin) : "ignore", env, cwd: tmp.path, timeout: 30_000 },
  );
  return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

test("kill signals the process group even when the run dir is unwritable, and says it did", async () => {
  copyFileSync(OYSTER_BIN, bin);
  chmodSync(bin, 0o755);
  chownSync(tmp.path, NOBODY, NOBODY);
  chmodSync(tmp.path, 0o755);
  const start = asNobody(
    ["exec", "start"],
    JSON.stringify({
      run_id: "k1",
      task_id: "t",
      spec: "x",
      argv: ["sh", "-c", "sleep 60 & sleep 60"],
      vars: {},
    }),
  );
  expect(start.stderr).toBe("");
  expect(start.code).toBe(0);
  const runDir = join(home, "runs", "k1");
  const pid = await waitFor("executor running", () => {
    const s = JSON.parse(readFileSync(join(runDir, "status.json"), "utf8"));
    return s.state === "running" && groupMembers(s.pid).length >= 2 ? (s.pid as number) : null;
  });
  groups.push(pid);

  chmodSync(runDir, 0o500);
  const kill = asNobody(["exec", "kill", "k1", "--grace", "1s", "--json"]);
  expect(kill.stderr).toBe("");
  expect(kill.code).toBe(0);
  const res = JSON.parse(kill.stdout);
  expect(res).toMatchObject({ found: true, signalled: true });
  expect(res.note).toMatch(/could not write the kill marker \(EACCES/);
  await waitFor("the whole group gone", () => groupMembers(pid).length === 0, { timeoutMs: 5_000 });
});

test("a status.json (and the wrapper's old temp name) swapped for symlinks is not written through", async () => {
  const target = join(tmp.path, "precious");
  writeFileSync(target, "precious\n");
  chmodSync(target, 0o666);
  // $PPID is the wrapper: the old code wrote its temp status to `.status.json.<wrapper pid>.tmp`.
  const script = `ln -s '${target}' ".status.json.$PPID.tmp"; ln -sfn '${target}' status.json; exit 0`;
  const start = asNobody(
    ["exec", "start"],
    JSON.stringify({ run_id: "s1", task_id: "t", spec: "x", argv: ["sh", "-c", script], vars: {} }),
  );
  expect(start.stderr).toBe("");
  expect(start.code).toBe(0);
  const status = join(home, "runs", "s1", "status.json");
  const final = await waitFor("final status written", () => {
    const r = asNobody(["exec", "list", "--json"]);
    return (JSON.parse(r.stdout) as { run_id: string; state: string }[]).find(
      (s) => s.run_id === "s1" && s.state === "succeeded",
    );
  });
  expect(final).toMatchObject({ state: "succeeded", exit_code: 0 });
  expect(readFileSync(target, "utf8")).toBe("precious\n");
  expect(lstatSync(status).isSymbolicLink()).toBe(false);
  expect(statSync(status).mode & 0o777).toBe(0o600);
});
