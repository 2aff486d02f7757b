import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import {
  closeSync,
  copyFileSync,
  mkdirSync,
  openSync,
  readdirSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { oyster, spawnController, tempDir, waitFor } from "../helpers/cli.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * The store is the controller's alone and is never silently lost: one `oyster run` per store
 * (an OS lock that dies with its process), damaged or empty stores refused at start with
 * advice, `oyster store backup|check`, read commands that never write, and a CLI write that
 * waited out the lock saying who holds the store.
 */
const dir = tempDir("oyster-e2e-store-");
const spawned: ReturnType<typeof spawnController>[] = [];
afterAll(async () => {
  for (const p of spawned)
    if (p.exitCode === null && p.signalCode === null) {
      p.kill("SIGKILL");
      await p.exited;
    }
  Bun.spawnSync(["pkill", "-KILL", "-f", join(dir.path, "node-home")]);
  for (const m of mounts) Bun.spawnSync(["umount", "-l", m]);
  dir.cleanup();
});
const mounts: string[] = [];

/** A working directory with its own config and a store holding `n` tasks. */
function project(name: string, n = 3): string {
  const cwd = join(dir.path, name);
  mkdirSync(join(cwd, "specs"), { recursive: true });
  writeFileSync(
    join(cwd, "oyster.yaml"),
    [
      "store: ./o.db",
      "http: { port: 0 }",
      `nodes: [{ name: local, transport: local, slots: 2, oyster_home: ${join(dir.path, "node-home")} }]`,
      "loops: { scheduler: { interval: 100ms } }",
      "",
    ].join("\n"),
  );
  for (let i = 0; i < n; i++)
    writeFileSync(
      join(cwd, "specs", `${name}-${i}.md`),
      `---\ntask_id: ${name}-${i}\ncommand: 'true'\n---\nbody ${"x".repeat(2000)}\n`,
    );
  if (n) expect(oyster(["submit", "specs"], { cwd }).code).toBe(0);
  return cwd;
}

function start(cwd: string): ReturnType<typeof spawnController> {
  const p = spawnController(cwd);
  spawned.push(p);
  return p;
}

/** The lease holder the running controller recorded in its store. */
function leasePid(cwd: string): number | null {
  const rows = storeReader(join(cwd, "o.db")).q<{ value: string }>(
    "SELECT value FROM settings WHERE key = 'controller_lease'",
  );
  return rows[0] ? (JSON.parse(rows[0].value) as { pid: number }).pid : null;
}

/** Up means serving: its lease recorded and its own /health answering (the last step of its start). */
async function up(cwd: string, p: ReturnType<typeof spawnController>): Promise<void> {
  await waitFor(
    `controller ${p.pid} up`,
    async () => {
      if (leasePid(cwd) !== p.pid) return false;
      const url = storeReader(join(cwd, "o.db")).q<{ value: string }>(
        "SELECT value FROM settings WHERE key = 'http_url'",
      )[0]?.value;
      if (!url) return false;
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
      return ((await res.json()) as { pid?: number }).pid === p.pid;
    },
    { timeoutMs: 15_000 },
  );
}

async function stop(p: ReturnType<typeof spawnController>): Promise<void> {
  p.kill("SIGTERM");
  expect(await p.exited).toBe(0);
}

describe("one controller per store", () => {
  test("a second oyster run on the same store refuses with the holder's pid", async () => {
    const cwd = project("two");
    const first = start(cwd);
    await up(cwd, first);
    const second = oyster(["run"], { cwd, timeoutMs: 15_000 });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain("another controller already runs on store");
    expect(second.stderr).toContain(`pid ${first.pid}`);
    expect(first.exitCode).toBeNull();
    await stop(first);
  }, 40_000);

  test("a kill -9'd controller's lease does not block a restart", async () => {
    const cwd = project("crash");
    const first = start(cwd);
    await up(cwd, first);
    first.kill("SIGKILL");
    await first.exited;
    const again = start(cwd);
    await up(cwd, again);
    expect(again.exitCode).toBeNull();
    await stop(again);
  }, 40_000);
});

describe("a damaged store is refused loudly", () => {
  test("a store with corrupted pages is refused at start, with advice", () => {
    const cwd = project("corrupt", 30);
    const path = join(cwd, "o.db");
    const fd = openSync(path, "r+");
    const pages = Math.floor(statSync(path).size / 4096);
    for (let p = 3; p < pages; p += 2)
      writeSync(fd, crypto.getRandomValues(new Uint8Array(3000)), 0, 3000, p * 4096 + 100);
    closeSync(fd);
    const r = oyster(["run"], { cwd, timeoutMs: 15_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("is damaged");
    expect(r.stderr).toContain("restore a backup");
    expect(r.stderr).toContain("oyster store check");
    const check = oyster(["store", "check"], { cwd });
    expect(check.code).toBe(1);
    expect(check.stderr).toContain("is damaged");
  });

  test("a 0-byte store is refused, not re-created", () => {
    const cwd = project("empty", 0);
    writeFileSync(join(cwd, "o.db"), "");
    const r = oyster(["run"], { cwd, timeoutMs: 15_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("empty (0-byte) file");
    expect(statSync(join(cwd, "o.db")).size).toBe(0);
    expect(oyster(["tasks"], { cwd }).code).toBe(1);
    expect(statSync(join(cwd, "o.db")).size).toBe(0);
  });
});

describe("backups and read-only reading", () => {
  test("oyster store backup, taken while the controller runs, is a store check accepts and tasks reads", async () => {
    const cwd = project("backup", 5);
    const ctl = start(cwd);
    await up(cwd, ctl);
    const b = oyster(["store", "backup", "copy.db"], { cwd });
    expect(b.stderr).toBe("");
    expect(b.code).toBe(0);
    expect(statSync(join(cwd, "copy.db")).mode & 0o777).toBe(0o600);
    expect(readdirSync(cwd).filter((f) => f.includes(".tmp-"))).toEqual([]);
    expect(oyster(["store", "backup", "copy.db"], { cwd }).stderr).toContain("already exists");
    await stop(ctl);

    const env = { OYSTER_STORE: join(cwd, "copy.db") };
    const check = oyster(["store", "check"], { cwd, env });
    expect(check.code).toBe(0);
    expect(check.stdout).toContain("ok (5 task(s)");
    const tasks = oyster(["tasks", "--json"], { cwd, env });
    expect(tasks.code).toBe(0);
    expect((JSON.parse(tasks.stdout) as { task_id: string }[]).map((t) => t.task_id).sort()).toEqual(
      [0, 1, 2, 3, 4].map((i) => `backup-${i}`),
    );
  }, 40_000);

  test("status and tasks work on a store on a read-only filesystem", () => {
    const cwd = project("ro", 4);
    const ro = join(dir.path, "ro-mount");
    mkdirSync(ro);
    const m = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", ro]);
    if (m.exitCode !== 0) {
      console.warn(`skipping the read-only check: cannot mount a tmpfs here (${m.stderr.toString().trim()})`);
      return;
    }
    mounts.push(ro);
    copyFileSync(join(cwd, "o.db"), join(ro, "o.db"));
    expect(Bun.spawnSync(["mount", "-o", "remount,ro", ro]).exitCode).toBe(0);
    // Port 0 is never asked (no controller to find); port 1 was whatever listens there.
    const env = { OYSTER_STORE: join(ro, "o.db"), OYSTER_HTTP_PORT: "0" };
    const tasks = oyster(["tasks"], { cwd, env });
    expect(tasks.stderr).toBe("");
    expect(tasks.code).toBe(0);
    expect(tasks.stdout).toContain("ro-3");
    const status = oyster(["status"], { cwd, env });
    expect(status.stdout).toContain("4 pending");
    expect(readdirSync(ro)).toEqual(["o.db"]);
  });

  test("read commands in an empty directory create no file", () => {
    const cwd = join(dir.path, "nothing");
    mkdirSync(cwd);
    const env = { OYSTER_HTTP_PORT: "0" };
    for (const cmd of [["status"], ["tasks"], ["stats"], ["breaker"], ["store", "check"]]) {
      const r = oyster(cmd, { cwd, env });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("no store at");
    }
    expect(oyster(["nodes"], { cwd, env }).code).toBe(0);
    expect(readdirSync(cwd)).toEqual([]);
  });
});

describe("a CLI write that cannot get the lock", () => {
  test("says which controller holds the store, not only 'database is locked'", async () => {
    const cwd = project("locked", 1);
    const ctl = start(cwd);
    await up(cwd, ctl);
    const db = new Database(join(cwd, "o.db"));
    db.exec("PRAGMA busy_timeout = 10000"); // the controller writes too: wait our turn
    db.exec("BEGIN IMMEDIATE");
    try {
      const r = oyster(["tasks", "cancel", "locked-0"], { cwd, env: { OYSTER_TEST_BUSY_TIMEOUT_MS: "300" } });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("database is locked");
      expect(r.stderr).toContain(`pid ${ctl.pid}`);
    } finally {
      db.exec("ROLLBACK");
      db.close();
    }
    await stop(ctl);
  }, 40_000);
});
