import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { OYSTER_BIN, oyster, spawnController, tempDir, waitFor } from "../helpers/cli.ts";
import { stopController, waitNodesOnline, writeConfig } from "../helpers/controller.ts";
import { type SshNode, startSshNode } from "../helpers/sshd.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * The agent protocol is framed, bounded and validated (issue 10 point 2), on the built binary
 * with three real sshd nodes (127.0.0.11–13):
 *  - p1 is healthy and the only node that takes these tasks (executor `shell`);
 *  - p2 has no agent and answers `oyster exec list` with JSON that is not a run list;
 *  - p3's agent floods 80 MB without a newline;
 *  - p4 has no agent and answers `oyster exec resources` (one-off exec) with 80 MB.
 * A bad node is marked offline with a reason; p1 keeps dispatching and its timeouts are enforced.
 */
const dir = tempDir("oyster-e2e-ssh-proto-");
const nodes: SshNode[] = [];
let controller: Subprocess | null = null;
const { q, count } = storeReader(join(dir.path, "o.db"));
const FLOOD_BYTES = 80 * 1024 * 1024;

function submit(sub: string, specs: Record<string, { fm: Record<string, unknown>; body?: string }>) {
  const d = join(dir.path, sub);
  mkdirSync(d, { recursive: true });
  for (const [id, { fm, body }] of Object.entries(specs)) {
    const lines = Object.entries({ task_id: id, ...fm }).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
    writeFileSync(join(d, `${id}.md`), `---\n${lines.join("\n")}\n---\n${body ?? "body"}\n`);
  }
  const r = oyster(["submit", d], { cwd: dir.path });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
}

function wrapper(name: string, cases: string): string {
  const p = join(dir.path, name);
  writeFileSync(p, `#!/bin/sh\n${cases}\nexec ${JSON.stringify(OYSTER_BIN)} "$@"\n`);
  chmodSync(p, 0o755);
  return p;
}

const ledger = (name: string) => {
  const p = join(dir.path, `${name}.ledger`);
  return existsSync(p) ? readFileSync(p, "utf8").split("\n").filter(Boolean) : [];
};

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : 0;
}

async function health(): Promise<{ code: number; body: { loops: Record<string, { errors: number }> } }> {
  const url = q<{ value: string }>("SELECT value FROM settings WHERE key = 'http_url'")[0]!.value;
  const r = await fetch(`${url}/health`);
  return { code: r.status, body: (await r.json()) as { loops: Record<string, { errors: number }> } };
}

beforeAll(async () => {
  nodes.push(await startSshNode({ address: "127.0.0.11", name: "p1" }));
  const garbage = wrapper(
    "garbage-oyster",
    [
      `if [ "$1" = exec ] && [ "$2" = agent ]; then echo "no agent here" >&2; exit 2; fi`,
      `if [ "$1" = exec ] && [ "$2" = list ]; then echo '{"runs":"garbage"}'; exit 0; fi`,
    ].join("\n"),
  );
  nodes.push(await startSshNode({ address: "127.0.0.12", name: "p2", binary: garbage }));
  const flood = wrapper(
    "flood-oyster",
    `if [ "$1" = exec ] && [ "$2" = agent ]; then head -c ${FLOOD_BYTES} /dev/zero | tr '\\000' x; exit 0; fi`,
  );
  nodes.push(await startSshNode({ address: "127.0.0.13", name: "p3", binary: flood }));
  const floodExec = wrapper(
    "flood-exec-oyster",
    [
      `if [ "$1" = exec ] && [ "$2" = agent ]; then echo "no agent here" >&2; exit 2; fi`,
      `if [ "$1" = exec ] && [ "$2" = resources ]; then head -c ${FLOOD_BYTES} /dev/zero | tr '\\000' x; exit 0; fi`,
    ].join("\n"),
  );
  nodes.push(await startSshNode({ address: "127.0.0.15", name: "p4", binary: floodExec }));
  writeConfig(dir.path, [
    "loops:",
    "  scheduler: { interval: 100ms }",
    // Probes would bring p2 back online between sweeps; the reaper's recovery probes are enough.
    "  probe: { interval: 1h }",
    // A cycle may wait out a kill's grace; unhealthy_after says when a slow cycle means a stuck loop.
    "  reaper: { interval: 300ms, unhealthy_after: 30s }",
    "breaker: { failures: 2, open_for: 10m }",
    "ssh: { connect_timeout: 3s, command_timeout: 5s }",
    "retry: { backoff: 100ms }",
    "nodes:",
    `  - ${JSON.stringify(nodes[0]!.nodeConfig({ slots: 2, executors: ["shell"] }))}`,
    // p2 and p3 take no task of this test: they are only probed and swept.
    `  - ${JSON.stringify(nodes[1]!.nodeConfig({ slots: 2, executors: ["glm"] }))}`,
    `  - ${JSON.stringify(nodes[2]!.nodeConfig({ slots: 2, executors: ["glm"] }))}`,
    `  - ${JSON.stringify(nodes[3]!.nodeConfig({ slots: 2, executors: ["glm"] }))}`,
  ]);
  controller = spawnController(dir.path);
  await waitNodesOnline(dir.path, ["p1"]);
});

afterAll(async () => {
  await stopController(controller);
  for (const n of nodes) await n.destroy();
  dir.cleanup();
});

describe("a framed, bounded, validated protocol", () => {
  test("a spec body containing U+2028 and U+2029 dispatches over the agent and runs once", async () => {
    const body = "line one\u2028still line one\u2029and this\nline two";
    submit("u2028", {
      u2028: { fm: { command: `echo run >> ${JSON.stringify(join(dir.path, "u2028.ledger"))}` }, body },
    });
    await waitFor(
      "u2028 succeeded",
      () => count("SELECT COUNT(*) AS n FROM tasks WHERE task_id = 'u2028' AND status = 'succeeded'"),
      { timeoutMs: 15_000 },
    );
    expect(ledger("u2028")).toEqual(["run"]);
    expect(count("SELECT COUNT(*) AS n FROM runs WHERE task_id = 'u2028'")).toBe(1);
    const runs = join(nodes[0]!.home, "runs");
    const specs = readdirSync(runs)
      .map((r) => join(runs, r, "spec.md"))
      .filter(existsSync)
      .map((p) => readFileSync(p, "utf8"));
    expect(specs.some((s) => s.includes(body))).toBe(true);
  });

  test("a node answering list with garbage is marked offline with a reason; nothing else stops", async () => {
    const row = await waitFor(
      "p2 offline with a protocol reason",
      () =>
        q<{ online: number; last_error: string | null }>(
          "SELECT online, last_error FROM nodes WHERE name = 'p2' AND online = 0 AND last_error LIKE '%protocol error%'",
        )[0],
      { timeoutMs: 15_000 },
    );
    expect(row.last_error).toContain('protocol error from node "p2": invalid list reply');
    // A probe that answers may clear the reason until the next sweep: poll the CLI's view too.
    const shown = await waitFor(
      "oyster nodes to show p2's reason",
      () => {
        const cli = JSON.parse(oyster(["nodes", "--json"], { cwd: dir.path }).stdout) as {
          name: string;
          last_error: string | null;
        }[];
        return cli.find((n) => n.name === "p2" && n.last_error?.includes("invalid list reply"));
      },
      { timeoutMs: 15_000 },
    );
    expect(shown.last_error).toContain("invalid list reply");
  });

  test("a node flooding a line without newline is refused at the limit; the controller stays small", async () => {
    const row = await waitFor(
      "p3 offline with a protocol reason",
      () =>
        q<{ last_error: string | null }>(
          "SELECT last_error FROM nodes WHERE name = 'p3' AND online = 0 AND last_error LIKE '%protocol error%'",
        )[0],
      { timeoutMs: 20_000 },
    );
    expect(row.last_error).toContain(
      `protocol error from node "p3": the agent sent a line longer than ${4 * 1024 * 1024} bytes`,
    );
    const p4 = await waitFor(
      "p4 offline with a protocol reason",
      () =>
        q<{ last_error: string | null }>(
          "SELECT last_error FROM nodes WHERE name = 'p4' AND online = 0 AND last_error LIKE '%protocol error%'",
        )[0],
      { timeoutMs: 20_000 },
    );
    expect(p4.last_error).toContain(`a command's output passed ${16 * 1024 * 1024} bytes`);
    console.log(`controller RSS after the floods: ${Math.round(rssMb(controller!.pid))} MB`);
    expect(rssMb(controller!.pid)).toBeLessThan(300);
  });

  test("with the bad nodes swept every cycle, the healthy node still dispatches and its timeouts are enforced", async () => {
    submit("healthy", {
      slow: {
        fm: {
          command: `echo run >> ${JSON.stringify(join(dir.path, "slow.ledger"))}; sleep 60`,
          timeout: "2s",
          max_attempts: 1,
        },
      },
      quick: { fm: { command: `echo run >> ${JSON.stringify(join(dir.path, "quick.ledger"))}` } },
    });
    await waitFor(
      "quick succeeded",
      () => count("SELECT COUNT(*) AS n FROM tasks WHERE task_id = 'quick' AND status = 'succeeded'"),
      { timeoutMs: 15_000 },
    );
    const t0 = Date.now();
    await waitFor(
      "slow failed on its timeout",
      () =>
        count(
          "SELECT COUNT(*) AS n FROM runs WHERE task_id = 'slow' AND state = 'failed' AND reason = 'timeout'",
        ),
      { timeoutMs: 20_000 },
    );
    // The 2 s timeout is enforced within a few reaper cycles, not after the 60 s sleep.
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(ledger("slow")).toEqual(["run"]);
    expect(ledger("quick")).toEqual(["run"]);
    expect(q<{ node: string }>("SELECT DISTINCT node FROM runs")).toEqual([{ node: "p1" }]);
    // /health is truthful: the loops turn and the reaper's cycles did not fail for everyone.
    const h = await health();
    expect(h.code).toBe(200);
    expect(h.body.loops.reaper!.errors).toBe(0);
    expect(rssMb(controller!.pid)).toBeLessThan(300);
  });
});
