import { Database } from "bun:sqlite";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { OYSTER_BIN, oyster, tempDir, waitFor } from "../helpers/cli.ts";

/** `oyster logs` and the node-side `exec read` / `exec prune` on a local node (issue 13.1, 13.8). */
const dir = tempDir("oyster-e2e-logs-local-");
let controller: Subprocess | null = null;
const status = (id: string) => {
  if (!existsSync(join(dir.path, "o.db"))) return undefined;
  const d = new Database(join(dir.path, "o.db"), { readonly: true });
  try {
    return (d.query("SELECT status FROM tasks WHERE task_id = ?").get(id) as { status: string } | null)
      ?.status;
  } finally {
    d.close();
  }
};

beforeAll(() => {
  writeFileSync(
    join(dir.path, "oyster.yaml"),
    [
      "store: ./o.db",
      "http: { port: 0 }",
      "loops: { scheduler: { interval: 100ms }, reaper: { interval: 500ms } }",
      "retry: { max_attempts: 1 }",
      "nodes:",
      "  - { name: here, transport: local, oyster_home: ./home, slots: 2 }",
      "",
    ].join("\n"),
  );
  mkdirSync(join(dir.path, "specs"));
  writeFileSync(
    join(dir.path, "specs", "boom.md"),
    '---\ntask_id: boom\ncommand: "seq 1 30; echo broken >&2; exit 5"\n---\nbody\n',
  );
  expect(oyster(["submit", "specs"], { cwd: dir.path }).code).toBe(0);
  controller = Bun.spawn([OYSTER_BIN, "run"], { cwd: dir.path, stdout: "ignore", stderr: "ignore" });
});

afterAll(async () => {
  controller?.kill("SIGTERM");
  await controller?.exited;
  dir.cleanup();
});

test("a failed task on a local node: logs, -n, tasks show, -f exit status, exec read and prune", async () => {
  await waitFor("boom dead", () => status("boom") === "dead", { timeoutMs: 20_000 });
  const all = oyster(["logs", "boom"], { cwd: dir.path });
  expect(all.stdout).toBe(`${Array.from({ length: 30 }, (_, i) => i + 1).join("\n")}\nbroken\n`);
  expect(oyster(["logs", "boom", "-n", "3"], { cwd: dir.path }).stdout).toBe("29\n30\nbroken\n");
  const f = oyster(["logs", "boom", "-f", "-n", "1"], { cwd: dir.path });
  expect([f.code, f.stdout]).toEqual([5, "broken\n"]);
  const since = oyster(["logs", "boom", "--since", "1h", "-n", "1"], { cwd: dir.path });
  expect([since.code, since.stdout]).toEqual([0, "broken\n"]);
  const both = oyster(["logs", "boom", "--since", "1h", "--attempt", "1"], { cwd: dir.path });
  expect(both.code).toBe(2);
  const show = oyster(["tasks", "show", "boom"], { cwd: dir.path });
  expect(show.stdout).toContain("(last 20 lines");
  expect(show.stdout).toContain("  12\n");
  expect(show.stdout).not.toContain("  11\n");
  expect(show.stdout).toContain("  broken");

  const runId = (
    new Database(join(dir.path, "o.db"), { readonly: true }).query("SELECT run_id FROM runs").get() as {
      run_id: string;
    }
  ).run_id;
  expect(oyster(["logs", "boom", "--run", runId, "-n", "1"], { cwd: dir.path }).stdout).toBe("broken\n");
  const home = join(dir.path, "home");
  const read = JSON.parse(
    oyster(["exec", "read", runId, "--home", home, "--offset", "4", "--limit", "4", "--json"], {
      cwd: dir.path,
    }).stdout,
  );
  expect([read.offset, Buffer.from(read.data, "base64").toString(), read.status.exit_code]).toEqual([
    4,
    "3\n4\n",
    5,
  ]);
  const bad = oyster(["exec", "read", "../etc", "--home", home], { cwd: dir.path });
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain("invalid run id");

  const pruned = JSON.parse(
    oyster(["exec", "prune", "--home", home, "--runs", `${runId},unknown`, "--json"], { cwd: dir.path })
      .stdout,
  );
  expect(pruned).toEqual({ removed: [runId], kept: [], missing: 1 });
  expect(existsSync(join(home, "runs", runId))).toBe(false);
  const gone = oyster(["logs", "boom"], { cwd: dir.path });
  expect(gone.code).toBe(1);
  expect(gone.stderr).toContain("removed by retention");
}, 60_000);
