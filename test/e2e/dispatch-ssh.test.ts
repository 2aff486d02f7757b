import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { cleanEnv, OYSTER_BIN, oyster, spawnController, tempDir, waitFor } from "../helpers/cli.ts";
import { stopController, waitNodesOnline, writeConfig } from "../helpers/controller.ts";
import { type SshNode, startSshNode } from "../helpers/sshd.ts";

/**
 * The dispatch engine against three real OpenSSH nodes on 127.0.0.2–4, driving the built binary.
 */
const dir = tempDir("oyster-e2e-ssh-");
const nodes: SshNode[] = [];
let controller: Subprocess | null = null;

const writeSpecs = (sub: string, specs: Record<string, Record<string, unknown>>) => {
  const d = join(dir.path, sub);
  mkdirSync(d, { recursive: true });
  for (const [id, fm] of Object.entries(specs)) {
    const lines = Object.entries({ task_id: id, ...fm }).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
    writeFileSync(join(d, `${id.replace(/[^A-Za-z0-9]/g, "_")}.md`), `---\n${lines.join("\n")}\n---\nbody\n`);
  }
  return d;
};

const db = () => new Database(join(dir.path, "o.db"), { readonly: true });
const count = (sql: string, ...params: (string | number)[]) => {
  const d = db();
  try {
    return (d.query(sql).get(...params) as { n: number }).n;
  } finally {
    d.close();
  }
};

beforeAll(async () => {
  for (let i = 0; i < 3; i++)
    nodes.push(await startSshNode({ address: `127.0.0.${2 + i}`, name: `n${i + 1}` }));
  writeConfig(dir.path, [
    "loops: { scheduler: { interval: 100ms }, probe: { interval: 300ms }, reaper: { interval: 1s } }",
    "breaker: { failures: 3, open_for: 3s }",
    "ssh: { connect_timeout: 2s, command_timeout: 5s }",
    "retry: { backoff: 100ms }",
    "nodes:",
    ...nodes.map((n) => `  - ${JSON.stringify(n.nodeConfig({ slots: 2 }))}`),
  ]);
  controller = spawnController(dir.path);
  await waitNodesOnline(
    dir.path,
    nodes.map((n) => n.name),
  );
});

afterAll(async () => {
  await stopController(controller);
  for (const n of nodes) await n.destroy();
  dir.cleanup();
});

describe("dispatch over SSH", () => {
  test("a DAG of 20 tasks finishes on 3 nodes in dependency order; shared paths never overlap", async () => {
    const specs: Record<string, Record<string, unknown>> = {};
    for (let i = 0; i < 20; i++) {
      const deps = i >= 4 ? [`dag${i - 4}`] : [];
      specs[`dag${i}`] = {
        command: "sleep 0.2",
        depends_on: deps,
        modifies: i % 5 === 0 ? ["same/file.py"] : [],
      };
    }
    expect(oyster(["submit", writeSpecs("dag", specs)], { cwd: dir.path }).code).toBe(0);
    await waitFor(
      "20 tasks succeeded",
      () =>
        count("SELECT COUNT(*) AS n FROM tasks WHERE task_id LIKE 'dag%' AND status = 'succeeded'") === 20,
      {
        timeoutMs: 40_000,
        intervalMs: 200,
      },
    );
    const d = db();
    const runs = d
      .query(
        "SELECT task_id, node, started_at, finished_at FROM runs WHERE task_id LIKE 'dag%' AND state = 'succeeded'",
      )
      .all() as { task_id: string; node: string; started_at: number; finished_at: number }[];
    d.close();
    const by = new Map(runs.map((r) => [r.task_id, r]));
    for (let i = 4; i < 20; i++)
      expect(by.get(`dag${i}`)!.started_at).toBeGreaterThanOrEqual(by.get(`dag${i - 4}`)!.finished_at);
    const shared = [0, 5, 10, 15].map((i) => by.get(`dag${i}`)!).sort((a, b) => a.started_at - b.started_at);
    for (let i = 1; i < shared.length; i++)
      expect(shared[i]!.started_at).toBeGreaterThanOrEqual(shared[i - 1]!.finished_at);
    expect(new Set(runs.map((r) => r.node)).size).toBe(3);
  });

  test("a task id full of shell metacharacters runs without anything being executed from it", async () => {
    const id = "y$(touch pwned-marker);touch pwned-marker2`touch pwned-marker3`";
    expect(
      oyster(["submit", writeSpecs("hostile", { [id]: { command: "echo fine" } })], { cwd: dir.path }).code,
    ).toBe(0);
    await waitFor(
      "hostile task succeeded",
      () => count("SELECT COUNT(*) AS n FROM tasks WHERE task_id = ? AND status = 'succeeded'", id) === 1,
      {
        timeoutMs: 20_000,
      },
    );
    for (const n of nodes) {
      expect(Bun.spawnSync(["find", n.dir, "-name", "pwned-marker*"]).stdout.toString()).toBe("");
    }
    expect(Bun.spawnSync(["find", dir.path, "-name", "pwned-marker*"]).stdout.toString()).toBe("");
    expect(existsSync("pwned-marker")).toBe(false);
  });

  test("a node whose sshd stops opens its breaker, its work goes elsewhere, and when it is back a launch there closes it", async () => {
    const down = nodes[2]!;
    await down.stop();
    await waitFor(
      "breaker node:n3 OPEN",
      () => count("SELECT COUNT(*) AS n FROM breakers WHERE key = 'node:n3' AND state = 'OPEN'") === 1,
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    expect(
      count("SELECT COUNT(*) AS n FROM events WHERE kind = 'circuit_open' AND data LIKE '%node:n3%'"),
    ).toBeGreaterThanOrEqual(1);
    const specs: Record<string, Record<string, unknown>> = {};
    for (let i = 0; i < 6; i++) specs[`during${i}`] = { command: "sleep 0.1" };
    expect(oyster(["submit", writeSpecs("during", specs)], { cwd: dir.path }).code).toBe(0);
    await waitFor(
      "work done elsewhere",
      () =>
        count("SELECT COUNT(*) AS n FROM tasks WHERE task_id LIKE 'during%' AND status = 'succeeded'") === 6,
      {
        timeoutMs: 20_000,
      },
    );
    expect(
      count(
        "SELECT COUNT(*) AS n FROM runs WHERE task_id LIKE 'during%' AND node = 'n3' AND state = 'succeeded'",
      ),
    ).toBe(0);
    await down.start();
    // A probe that reaches the node makes it HALF_OPEN at once (issue 13.5); a launch there closes it.
    await waitFor(
      "breaker node:n3 HALF_OPEN",
      () => count("SELECT COUNT(*) AS n FROM breakers WHERE key = 'node:n3' AND state = 'HALF_OPEN'") === 1,
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    const after: Record<string, Record<string, unknown>> = {};
    for (let i = 0; i < 6; i++) after[`after${i}`] = { command: "sleep 0.3" };
    expect(oyster(["submit", writeSpecs("after", after)], { cwd: dir.path }).code).toBe(0);
    await waitFor(
      "breaker node:n3 closed again",
      () => count("SELECT COUNT(*) AS n FROM breakers WHERE key = 'node:n3' AND state = 'CLOSED'") === 1,
      { timeoutMs: 20_000, intervalMs: 100 },
    );
    expect(
      count("SELECT COUNT(*) AS n FROM events WHERE kind = 'circuit_closed' AND data LIKE '%node:n3%'"),
    ).toBeGreaterThanOrEqual(1);
    await waitFor(
      "n3 online",
      () => count("SELECT COUNT(*) AS n FROM nodes WHERE name = 'n3' AND online = 1") === 1,
      { timeoutMs: 10_000 },
    );
  });

  test("a node with an unknown host key is refused with a clear message", async () => {
    const other = tempDir("oyster-e2e-hostkey-");
    try {
      const n = nodes[0]!;
      const empty = join(other.path, "known_hosts");
      writeFileSync(empty, "");
      writeFileSync(
        join(other.path, "oyster.yaml"),
        `nodes:\n  - ${JSON.stringify(n.nodeConfig({ name: "stranger", known_hosts: empty }))}\n`,
      );
      const ctl = Bun.spawn([OYSTER_BIN, "run", "--port", "0"], {
        cwd: other.path,
        stdout: "ignore",
        stderr: "pipe",
        env: cleanEnv(),
      });
      let err = "";
      const reader = (ctl.stderr as ReadableStream<Uint8Array>).getReader();
      await waitFor(
        "host key refusal in the log",
        async () => {
          const { value } = await reader.read();
          err += new TextDecoder().decode(value ?? new Uint8Array());
          return /host key/i.test(err) && err.includes("stranger");
        },
        { timeoutMs: 15_000, intervalMs: 1 },
      );
      ctl.kill("SIGTERM");
      await ctl.exited;
      expect(err).toMatch(/unknown|not in|known_hosts/i);
    } finally {
      other.cleanup();
    }
  });

  test("the low-rate gate: 20% success over 15 launches in the last hour blocks dispatch", async () => {
    // Seed the window with 15 launch outcomes (3 ok) as if the last hour had gone badly.
    const w = new Database(join(dir.path, "o.db"));
    const now = Date.now();
    const ins = w.query("INSERT INTO dispatch_events (ts, kind, success, reason) VALUES (?, 'launch', ?, ?)");
    w.exec("BEGIN IMMEDIATE");
    w.exec("DELETE FROM dispatch_events");
    for (let i = 0; i < 15; i++) ins.run(now - i * 1000, i < 3 ? 1 : 0, i < 3 ? null : "executor_failed");
    w.exec("COMMIT");
    w.close();
    expect(
      oyster(["submit", writeSpecs("gated", { gated1: { command: "true" } })], { cwd: dir.path }).code,
    ).toBe(0);
    await waitFor(
      "a low_success_rate refusal",
      () =>
        count(
          "SELECT COUNT(*) AS n FROM dispatch_events WHERE kind = 'refusal' AND reason = 'low_success_rate'",
        ) > 0,
      { timeoutMs: 10_000 },
    );
    expect(count("SELECT COUNT(*) AS n FROM runs WHERE task_id = 'gated1'")).toBe(0);
    const stats = JSON.parse(oyster(["stats", "--json"], { cwd: dir.path }).stdout);
    expect(stats.rate).toBeCloseTo(0.2);
    expect(stats.total).toBe(15);
  });
});
