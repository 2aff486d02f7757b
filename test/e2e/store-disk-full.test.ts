import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { oyster, spawnController, tempDir, waitFor } from "../helpers/cli.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * The store's disk fills while tasks are dispatched: a real tmpfs, filled to the last byte by a
 * filler file. The controller must stay up, say `store: disk_full` on /health (503) and in
 * `oyster status`, and once the filler is gone recover by itself: /health 200, and every task
 * ran exactly once by its own ledger.
 */
const dir = tempDir("oyster-e2e-diskfull-");
const disk = join(dir.path, "disk");
const ledger = join(dir.path, "ledger.log");
const filler = join(disk, "filler");
mkdirSync(disk);
const mount = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", disk]);
const mounted = mount.exitCode === 0;
if (!mounted)
  console.warn(`skipping the full-disk test: cannot mount a tmpfs here (${mount.stderr.toString().trim()})`);

let controller: ReturnType<typeof spawnController> | null = null;
afterAll(async () => {
  if (controller && controller.exitCode === null) {
    controller.kill("SIGKILL");
    await controller.exited;
  }
  Bun.spawnSync(["pkill", "-KILL", "-f", join(dir.path, "node-home")]);
  if (mounted) Bun.spawnSync(["umount", "-l", disk]);
  dir.cleanup();
});

const N = 40;
const ids = Array.from({ length: N }, (_, i) => `df-${i}`);

beforeAll(() => {
  if (!mounted) return;
  writeFileSync(
    join(dir.path, "oyster.yaml"),
    [
      "store: ./disk/o.db",
      "http: { port: 0 }",
      "nodes: [{ name: local, transport: local, slots: 4, oyster_home: ./node-home }]",
      "loops: { scheduler: { interval: 50ms }, reaper: { interval: 200ms }, probe: { interval: 500ms } }",
      "retry: { backoff: 50ms }",
      "",
    ].join("\n"),
  );
  const specs = join(dir.path, "specs");
  mkdirSync(specs);
  for (const id of ids)
    writeFileSync(
      join(specs, `${id}.md`),
      `---\ntask_id: ${id}\ncommand: 'echo "$OYSTER_TASK_ID" >> ${JSON.stringify(ledger)}; sleep 0.4'\n---\nx\n`,
    );
  const r = oyster(["submit", specs], { cwd: dir.path });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
});

/** Write zeros until the filesystem says ENOSPC: the disk is then full to the last block. */
function fillDisk(): number {
  const fd = openSync(filler, "w");
  const chunk = new Uint8Array(64 * 1024);
  let bytes = 0;
  try {
    for (;;) bytes += writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    closeSync(fd);
  }
  return bytes;
}

function ledgerLines(): string[] {
  return existsSync(ledger) ? readFileSync(ledger, "utf8").split("\n").filter(Boolean) : [];
}

async function health(): Promise<{ code: number; body: { status: string; store?: string } }> {
  const url = storeReader(join(disk, "o.db")).q<{ value: string }>(
    "SELECT value FROM settings WHERE key = 'http_url'",
  )[0]!.value;
  const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
  return { code: res.status, body: (await res.json()) as { status: string; store?: string } };
}

describe.skipIf(!mounted)("a full disk under the store", () => {
  test("is a failed statement, not a crash: 503 disk_full, shown by status, then recovery and exactly once", async () => {
    controller = spawnController(dir.path);
    await waitFor("a few tasks to run", () => ledgerLines().length >= 4, { timeoutMs: 20_000 });
    expect(fillDisk()).toBeGreaterThan(0);

    const full = await waitFor(
      "/health to report the full disk",
      async () => {
        const h = await health();
        return h.code === 503 && h.body.store === "disk_full" ? h : null;
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    expect(full.body.status).toBe("unhealthy");
    const status = oyster(["status"], { cwd: dir.path });
    expect(status.stdout).toContain("DISK FULL");
    const url = storeReader(join(disk, "o.db")).q<{ value: string }>(
      "SELECT value FROM settings WHERE key = 'http_url'",
    )[0]!.value;
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(
      Number(/^oyster_store_errors_total\{kind="disk_full"\} (\d+)/m.exec(metrics)?.[1]),
    ).toBeGreaterThan(0);
    expect(controller.exitCode).toBeNull();

    rmSync(filler);
    await waitFor(
      "/health 200 once space returns",
      async () => {
        const h = await health();
        return h.code === 200 && h.body.store === "ok";
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    await waitFor(
      "every task to succeed",
      () =>
        storeReader(join(disk, "o.db")).count(
          "SELECT COUNT(*) AS n FROM tasks WHERE status = 'succeeded'",
        ) === N,
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(controller.exitCode).toBeNull();
    const runs = ledgerLines();
    expect(runs.length).toBe(N);
    expect(new Set(runs).size).toBe(N);
    expect([...new Set(runs)].sort()).toEqual([...ids].sort());

    controller.kill("SIGTERM");
    expect(await controller.exited).toBe(0);
  }, 120_000);

  test("a controller killed while the disk is full restarts on the full disk, says so, and recovers", async () => {
    const more = Array.from({ length: 6 }, (_, i) => `late-${i}`);
    const specs = join(dir.path, "late");
    mkdirSync(specs);
    for (const id of more)
      writeFileSync(
        join(specs, `${id}.md`),
        `---\ntask_id: ${id}\ncommand: 'echo "$OYSTER_TASK_ID" >> ${JSON.stringify(ledger)}; sleep 1'\n---\nx\n`,
      );
    expect(oyster(["submit", specs], { cwd: dir.path }).code).toBe(0);
    // The store cannot record the bound URL on a full disk: give the controllers a port we know.
    const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    const port = probe.port;
    probe.stop(true);
    const env = { OYSTER_HTTP_PORT: String(port) };
    const get = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2_000) });
      return { code: res.status, body: (await res.json()) as { store?: string; pid?: number } };
    };
    const first = spawnController(dir.path, env);
    await waitFor("a late task to start", () => ledgerLines().some((l) => l.startsWith("late-")), {
      timeoutMs: 20_000,
    });
    fillDisk();
    first.kill("SIGKILL");
    await first.exited;

    controller = spawnController(dir.path, env);
    const pid = controller.pid;
    await waitFor(
      "/health 503 disk_full from the controller restarted on a full disk",
      async () => {
        const h = await get();
        return h.body.pid === pid && h.code === 503 && h.body.store === "disk_full";
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    expect(controller.exitCode).toBeNull();
    rmSync(filler);
    await waitFor("/health 200 once space returns", async () => (await get()).code === 200, {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    await waitFor(
      "the late tasks to succeed",
      () =>
        storeReader(join(disk, "o.db")).count(
          "SELECT COUNT(*) AS n FROM tasks WHERE task_id LIKE 'late-%' AND status = 'succeeded'",
        ) === more.length,
      { timeoutMs: 40_000, intervalMs: 200 },
    );
    const runs = ledgerLines();
    expect(runs.length).toBe(N + more.length);
    expect(new Set(runs).size).toBe(N + more.length);
    controller.kill("SIGTERM");
    expect(await controller.exited).toBe(0);
  }, 120_000);
});
