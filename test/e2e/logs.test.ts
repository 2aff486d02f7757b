import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { cleanEnv, OYSTER_BIN, oyster, spawnController, tempDir, waitFor } from "../helpers/cli.ts";
import { stopController as stopControllerProcess } from "../helpers/controller.ts";
import { type SshNode, startSshNode } from "../helpers/sshd.ts";

/**
 * `oyster logs`, `/api/tasks/ID/logs` and `tasks show` (issue 13.1) against a real OpenSSH node
 * on the built binary: output read from the node in bounded ranges, followed to the run's end,
 * shown inert on a terminal.
 */
const dir = tempDir("oyster-e2e-logs-");
let node: SshNode;
let controller: Subprocess | null = null;

const writeSpec = (id: string, fm: Record<string, unknown>) => {
  const d = join(dir.path, "specs", id);
  mkdirSync(d, { recursive: true });
  const lines = Object.entries({ task_id: id, ...fm }).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  writeFileSync(join(d, `${id}.md`), `---\n${lines.join("\n")}\n---\nbody\n`);
  return d;
};
const submit = (id: string, fm: Record<string, unknown>) =>
  expect(oyster(["submit", writeSpec(id, fm)], { cwd: dir.path }).code).toBe(0);

const query = <T>(sql: string, ...params: (string | number)[]): T | null => {
  const d = new Database(join(dir.path, "o.db"), { readonly: true });
  try {
    return d.query(sql).get(...params) as T | null;
  } finally {
    d.close();
  }
};
const taskStatus = (id: string) =>
  query<{ status: string }>("SELECT status FROM tasks WHERE task_id = ?", id)?.status;
const apiUrl = () => query<{ value: string }>("SELECT value FROM settings WHERE key = 'http_url'")?.value;

const startController = async () => {
  controller = spawnController(dir.path);
  await waitFor(
    "the node online and the API up",
    () => apiUrl() && query("SELECT 1 AS x FROM nodes WHERE online = 1"),
    {
      timeoutMs: 20_000,
    },
  );
};
const stopController = async () => {
  await stopControllerProcess(controller);
  controller = null;
};

beforeAll(async () => {
  node = await startSshNode({ address: "127.0.0.7", name: "n1" });
  const cfg = [
    "store: ./o.db",
    "http: { port: 0 }",
    "loops: { scheduler: { interval: 100ms }, probe: { interval: 300ms }, reaper: { interval: 500ms } }",
    "ssh: { connect_timeout: 3s, command_timeout: 10s }",
    "retry: { backoff: 100ms, max_attempts: 1 }",
    "nodes:",
    `  - ${JSON.stringify(node.nodeConfig({ slots: 4 }))}`,
  ];
  writeFileSync(join(dir.path, "oyster.yaml"), `${cfg.join("\n")}\n`);
  await startController();
});

afterAll(async () => {
  await stopController();
  await node.destroy();
  dir.cleanup();
});

describe("oyster logs over SSH", () => {
  test("a failed task's output: whole, its last lines, and each attempt on its own", async () => {
    const counter = join(dir.path, "attempts");
    submit("flaky", {
      command: `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; for i in 1 2 3 4 5; do echo "try $n line $i"; done; echo "oops $n" >&2; exit 4`,
      max_attempts: 2,
    });
    await waitFor("flaky dead after two attempts", () => taskStatus("flaky") === "dead", {
      timeoutMs: 30_000,
    });

    const all = oyster(["logs", "flaky"], { cwd: dir.path });
    expect(all.code).toBe(0);
    expect(all.stdout).toContain("try 2 line 1");
    expect(all.stdout).toContain("try 2 line 5");
    expect(all.stdout).toContain("oops 2");
    expect(all.stdout).not.toContain("try 1");

    const tail = oyster(["logs", "flaky", "-n", "2"], { cwd: dir.path });
    expect(tail.stdout.trimEnd().split("\n")).toHaveLength(2);
    expect(tail.stdout).toContain("oops 2");

    const first = oyster(["logs", "flaky", "--attempt", "1"], { cwd: dir.path });
    expect(first.stdout).toContain("try 1 line 3");
    expect(first.stdout).not.toContain("try 2");

    const none = oyster(["logs", "flaky", "--attempt", "9"], { cwd: dir.path });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("has no attempt 9 (it has 1, 2)");

    const show = oyster(["tasks", "show", "flaky"], { cwd: dir.path });
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/output of run flaky-a2-\S+ \(last 20 lines/);
    expect(show.stdout).toContain("  try 2 line 5");
    expect(show.stdout).toContain("  oops 2");
  }, 60_000);

  test("escape sequences and bytes that are not UTF-8 are shown inert; --raw keeps them exact", async () => {
    submit("hostile-out", {
      command: "printf '\\033]0;pwned\\007 caf\\303\\251 \\377\\376 \\033[2J end\\n'; exit 1",
    });
    await waitFor("hostile-out over", () => taskStatus("hostile-out") === "dead", { timeoutMs: 20_000 });
    const r = oyster(["logs", "hostile-out"], { cwd: dir.path });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("\\e]0;pwned\\x07 café \\xff\\xfe \\e[2J end\n");
    const raw = Bun.spawnSync([OYSTER_BIN, "logs", "hostile-out", "--raw"], {
      cwd: dir.path,
      stdout: "pipe",
      env: cleanEnv(),
    });
    expect(Buffer.from(raw.stdout).toString("hex")).toBe(
      Buffer.from("\x1b]0;pwned\x07 caf\xc3\xa9 \xff\xfe \x1b[2J end\n", "latin1").toString("hex"),
    );
  }, 40_000);

  test("-f streams a running task until it ends and exits with its status, through a controller restart", async () => {
    submit("ticker", { command: "for i in $(seq 1 15); do echo tick $i; sleep 0.2; done; exit 7" });
    await waitFor("ticker running", () => taskStatus("ticker") === "running", { timeoutMs: 20_000 });
    const f = Bun.spawn([OYSTER_BIN, "logs", "ticker", "-f"], {
      cwd: dir.path,
      stdout: "pipe",
      stderr: "pipe",
      env: cleanEnv({ NO_COLOR: "1" }),
    });
    const out = new Response(f.stdout).text();
    // The follower talks to the node itself: the controller going away does not end it.
    await stopController();
    const code = await Promise.race([f.exited, Bun.sleep(20_000).then(() => "timeout" as const)]);
    if (code === "timeout") f.kill("SIGKILL");
    expect(code).toBe(7);
    const lines = (await out).trimEnd().split("\n");
    expect(lines).toEqual(Array.from({ length: 15 }, (_, i) => `tick ${i + 1}`));
    await startController();
    await waitFor("ticker recorded failed", () => taskStatus("ticker") === "dead", { timeoutMs: 20_000 });
  }, 60_000);

  test("GET /api/tasks/ID/logs gives the bytes, ?tail= the last lines, ?follow=1 a stream to the end", async () => {
    const base = apiUrl()!;
    const whole = await fetch(`${base}/api/tasks/flaky/logs`);
    expect(whole.status).toBe(200);
    expect(whole.headers.get("x-oyster-run")).toMatch(/^flaky-a2-/);
    const text = await whole.text();
    expect(text).toContain("try 2 line 1");
    expect(text).toContain("oops 2");
    const tail = await (await fetch(`${base}/api/tasks/flaky/logs?tail=1`)).text();
    expect(tail).toBe("oops 2\n");
    const bytes = Buffer.from(await (await fetch(`${base}/api/tasks/hostile-out/logs`)).arrayBuffer());
    expect(bytes.includes(0xff)).toBe(true);
    expect((await fetch(`${base}/api/tasks/nope/logs`)).status).toBe(404);
    expect((await fetch(`${base}/api/tasks/flaky/logs?attempt=7`)).status).toBe(404);

    submit("api-follow", { command: "for i in $(seq 1 10); do echo step $i; sleep 0.2; done" });
    await waitFor("api-follow running", () => taskStatus("api-follow") === "running", { timeoutMs: 20_000 });
    const t0 = Date.now();
    const followed = await fetch(`${base}/api/tasks/api-follow/logs?follow=1`);
    const body = await followed.text();
    expect(body.trimEnd().split("\n")).toEqual(Array.from({ length: 10 }, (_, i) => `step ${i + 1}`));
    // It stayed open while the task ran (about 2 s), not answered with what existed at once.
    expect(Date.now() - t0).toBeGreaterThan(500);
  }, 60_000);

  test("a 200 MB output.log is read with -n 10 and through the API without the controller's RSS growing 20 MB", async () => {
    submit("big-out", {
      command: "yes 'a line of output 0123456789abcdefghij' | head -c 209715200; echo; echo last-line",
    });
    await waitFor("big-out succeeded", () => taskStatus("big-out") === "succeeded", {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    const runId = query<{ run_id: string }>("SELECT run_id FROM runs WHERE task_id = 'big-out'")!.run_id;
    expect(statSync(join(node.home, "runs", runId, "output.log")).size).toBeGreaterThan(200 * 1024 * 1024);

    const t0 = performance.now();
    const tail = oyster(["logs", "big-out", "-n", "10"], { cwd: dir.path });
    const tailMs = performance.now() - t0;
    expect(tail.code).toBe(0);
    const lines = tail.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(10);
    expect(lines.at(-1)).toBe("last-line");
    expect(tailMs).toBeLessThan(10_000);

    const pid = controller!.pid;
    const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
    const before = rssKb();
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssKb());
    }, 20);
    const res = await fetch(`${apiUrl()}/api/tasks/big-out/logs`);
    const reader = res.body!.getReader();
    let got = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      got += value.length;
    }
    clearInterval(sampler);
    expect(got).toBe(statSync(join(node.home, "runs", runId, "output.log")).size);
    const growthMb = (peak - before) / 1024;
    console.log(
      `200 MB via API: controller RSS ${before >> 10} MB → peak ${peak >> 10} MB (+${growthMb.toFixed(1)} MB); logs -n 10 took ${tailMs.toFixed(0)} ms`,
    );
    expect(growthMb).toBeLessThan(20);
  }, 180_000);
});

describe("run retention", () => {
  test("finished run dirs beyond max_runs_per_node go, oldest first; a running one never does", async () => {
    await stopController();
    const cfgPath = join(dir.path, "oyster.yaml");
    writeFileSync(
      cfgPath,
      `${readFileSync(cfgPath, "utf8")}retention: { runs: 0, max_runs_per_node: 3, interval: 500ms }\n`,
    );
    const runsDir = join(node.home, "runs");
    submit("keeper", { command: "sleep 60", priority: 1 });
    await startController();
    await waitFor("keeper running", () => taskStatus("keeper") === "running", { timeoutMs: 20_000 });
    for (let i = 0; i < 4; i++) {
      submit(`quick${i}`, { command: `echo quick ${i}` });
      await waitFor(`quick${i} done`, () => taskStatus(`quick${i}`) === "succeeded", { timeoutMs: 20_000 });
    }
    const finished = (
      new Database(join(dir.path, "o.db"), { readonly: true })
        .query(
          "SELECT run_id FROM runs WHERE node = 'n1' AND state IN ('succeeded','failed','lost','cancelled') ORDER BY COALESCE(finished_at, created_at) DESC",
        )
        .all() as { run_id: string }[]
    ).map((r) => r.run_id);
    expect(finished.length).toBeGreaterThan(3);
    const keep = finished.slice(0, 3);
    await waitFor(
      "only the newest 3 finished run dirs left",
      () => finished.slice(3).every((id) => !existsSync(join(runsDir, id))),
      { timeoutMs: 20_000 },
    );
    for (const id of keep) expect(existsSync(join(runsDir, id))).toBe(true);
    const keeperRun = query<{ run_id: string }>("SELECT run_id FROM runs WHERE task_id = 'keeper'")!.run_id;
    expect(existsSync(join(runsDir, keeperRun))).toBe(true);
    expect(taskStatus("keeper")).toBe("running");
    // The output of a pruned run is gone, and `oyster logs` says so.
    const gone = oyster(["logs", "flaky"], { cwd: dir.path });
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("removed by retention");
    expect(oyster(["tasks", "cancel", "keeper"], { cwd: dir.path }).code).toBe(0);
  }, 120_000);
});
