import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { OYSTER_BIN, oyster, spawnController, tempDir, waitFor } from "../helpers/cli.ts";
import { stopController, waitNodesOnline, writeConfig } from "../helpers/controller.ts";
import { alive } from "../helpers/procs.ts";
import { type SshNode, startSshNode } from "../helpers/sshd.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * Self-healing against two real OpenSSH nodes (127.0.0.5–6) and the built binary: the reaper,
 * the guardian and the factory doing their jobs inside one `oyster run`. The probe loop is set
 * to an hour so every recovery seen here is the healing loops' work.
 */
const dir = tempDir("oyster-e2e-heal-");
const nodes: SshNode[] = [];
let controller: Subprocess | null = null;
const inbox = join(dir.path, "inbox");

const { q, count } = storeReader(join(dir.path, "o.db"));

function spec(id: string, fm: Record<string, unknown>): string {
  const lines = Object.entries({ task_id: id, ...fm }).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  return `---\n${lines.join("\n")}\n---\nbody\n`;
}
function submit(sub: string, specs: Record<string, Record<string, unknown>>) {
  const d = join(dir.path, sub);
  mkdirSync(d, { recursive: true });
  for (const [id, fm] of Object.entries(specs)) writeFileSync(join(d, `${id}.md`), spec(id, fm));
  const r = oyster(["submit", d], { cwd: dir.path });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
}
function statusOnNode(node: SshNode, runId: string): { state: string; pid: number; wrapper_pid: number } {
  return JSON.parse(readFileSync(join(node.home, "runs", runId, "status.json"), "utf8"));
}

beforeAll(async () => {
  nodes.push(await startSshNode({ address: "127.0.0.5", name: "h1" }));
  // h2 starts with an "old oyster": it reports another version and has no agent, like a binary
  // from before `oyster exec agent` existed; everything else it passes to the real one.
  const old = join(dir.path, "old-oyster");
  writeFileSync(
    old,
    `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "oyster 0.0.1 (old)"; exit 0; fi\nif [ "$1" = "exec" ] && [ "$2" = "agent" ]; then echo "no such command: agent" >&2; exit 2; fi\nexec ${JSON.stringify(OYSTER_BIN)} "$@"\n`,
  );
  chmodSync(old, 0o755);
  nodes.push(await startSshNode({ address: "127.0.0.6", name: "h2", binary: old }));
  writeConfig(dir.path, [
    "loops:",
    "  scheduler: { interval: 100ms }",
    "  probe: { interval: 1h }",
    "  reaper: { interval: 300ms }",
    "  guardian: { interval: 300ms }",
    "  factory: { interval: 200ms }",
    "ssh: { connect_timeout: 2s, command_timeout: 3s }",
    "retry: { backoff: 100ms, auto_revive: 0 }",
    `factory: { inbox: ${JSON.stringify(inbox)}, min_pending: 0 }`,
    "nodes:",
    `  - ${JSON.stringify(nodes[0]!.nodeConfig({ slots: 2 }))}`,
    `  - ${JSON.stringify(nodes[1]!.nodeConfig({ slots: 2, auto_upgrade: true }))}`,
  ]);
  controller = spawnController(dir.path);
  await waitNodesOnline(dir.path, ["h1", "h2"]);
});

afterAll(async () => {
  await stopController(controller);
  for (const n of nodes) await n.destroy();
  dir.cleanup();
});

describe("guardian", () => {
  test("a node running another oyster version is reported, and auto_upgrade installs this one", async () => {
    await waitFor(
      "version_mismatch event for h2",
      () => count("SELECT COUNT(*) AS n FROM events WHERE kind = 'version_mismatch' AND node = 'h2'") > 0,
      { timeoutMs: 15_000 },
    );
    const ev = q<{ data: string }>(
      "SELECT data FROM events WHERE kind = 'version_mismatch' AND node = 'h2'",
    )[0]!;
    expect(JSON.parse(ev.data).node_version).toBe("oyster 0.0.1 (old)");
    const mine = Bun.spawnSync([OYSTER_BIN, "--version"]).stdout.toString().trim();
    await waitFor(
      "h2's binary replaced by the controller's",
      () => Bun.spawnSync([nodes[1]!.binPath, "--version"]).stdout.toString().trim() === mine,
      { timeoutMs: 15_000 },
    );
    expect(readFileSync(nodes[1]!.binPath).equals(readFileSync(OYSTER_BIN))).toBe(true);
    expect(count("SELECT COUNT(*) AS n FROM events WHERE kind = 'version_mismatch' AND node = 'h1'")).toBe(0);
  });

  test("a dependency that dies blocks its dependents, naming it", async () => {
    submit("dag", {
      "dag-a": { command: "exit 3", max_attempts: 1 },
      "dag-b": { command: "true", depends_on: ["dag-a"] },
      "dag-c": { command: "true", depends_on: ["dag-b"] },
    });
    await waitFor(
      "dag-b and dag-c blocked",
      () =>
        count("SELECT COUNT(*) AS n FROM tasks WHERE task_id IN ('dag-b','dag-c') AND status = 'blocked'") ===
        2,
      { timeoutMs: 15_000 },
    );
    expect(q("SELECT task_id, blocked_by FROM tasks WHERE status = 'blocked' ORDER BY task_id")).toEqual([
      { task_id: "dag-b", blocked_by: "dag-a" },
      { task_id: "dag-c", blocked_by: "dag-b" },
    ]);
    const show = JSON.parse(oyster(["tasks", "show", "dag-a", "--json"], { cwd: dir.path }).stdout);
    expect(show.status).toBe("dead");
  });
});

describe("oyster nodes install", () => {
  test("installs this binary on a node and says which version it runs; bad names and local nodes are refused", () => {
    const ok = oyster(["nodes", "install", "h1"], { cwd: dir.path });
    expect(ok.stderr).toBe("");
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.stdout).toBe(
      `node h1 now runs ${Bun.spawnSync([OYSTER_BIN, "--version"]).stdout.toString().trim()}\n`,
    );
    const unknown = oyster(["nodes", "install", "nope"], { cwd: dir.path });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no node named "nope"');
    const local = oyster(["nodes", "install", "local"], {
      cwd: dir.path,
      env: { OYSTER_CONFIG: "/dev/null" },
    });
    expect(local.code).toBe(1);
    expect(local.stderr).toContain("runs on this host");
  });
});

describe("reaper", () => {
  test("a killed wrapper makes a ghost: the run is lost and the task reruns on the other node", async () => {
    submit("ghost", { "ghost-1": { command: "sleep 2" } });
    const first = await waitFor("first run running", () =>
      q<{ run_id: string; node: string }>(
        "SELECT run_id, node FROM runs WHERE task_id = 'ghost-1' AND state = 'running'",
      ).at(0),
    );
    const node = nodes.find((n) => n.name === first.node)!;
    const st = await waitFor("wrapper pid on the node", () => {
      const s = statusOnNode(node, first.run_id);
      return s.state === "running" ? s : null;
    });
    process.kill(st.wrapper_pid, "SIGKILL");
    await waitFor(
      "first run lost",
      () => count("SELECT COUNT(*) AS n FROM runs WHERE run_id = ? AND state = 'lost'", first.run_id) === 1,
      { timeoutMs: 10_000 },
    );
    // The orphaned executor is stopped, not left to run beside the rerun.
    await waitFor("orphaned executor killed", () => !alive(st.pid), { timeoutMs: 10_000 });
    await waitFor(
      "ghost-1 succeeded",
      () => count("SELECT COUNT(*) AS n FROM tasks WHERE task_id = 'ghost-1' AND status = 'succeeded'") === 1,
      { timeoutMs: 20_000 },
    );
    const runs = q<{ node: string; state: string }>(
      "SELECT node, state FROM runs WHERE task_id = 'ghost-1' ORDER BY attempt",
    );
    expect(runs.map((r) => r.state)).toEqual(["lost", "succeeded"]);
    expect(runs[1]!.node).not.toBe(first.node);
  });

  test("a run past its timeout is killed on the node, fails with reason timeout, and is retried", async () => {
    submit("stuck", { "stuck-1": { command: "sleep 60", timeout: "1s", max_attempts: 2 } });
    await waitFor(
      "stuck-1 dead after two timeouts",
      () => count("SELECT COUNT(*) AS n FROM tasks WHERE task_id = 'stuck-1' AND status = 'dead'") === 1,
      { timeoutMs: 20_000 },
    );
    const runs = q<{ run_id: string; node: string; state: string; reason: string }>(
      "SELECT run_id, node, state, reason FROM runs WHERE task_id = 'stuck-1' ORDER BY attempt",
    );
    expect(runs.map((r) => [r.state, r.reason])).toEqual([
      ["failed", "timeout"],
      ["failed", "timeout"],
    ]);
    expect(count("SELECT COUNT(*) AS n FROM events WHERE kind = 'run_timeout' AND task_id = 'stuck-1'")).toBe(
      2,
    );
    for (const r of runs) {
      const node = nodes.find((n) => n.name === r.node)!;
      const s = await waitFor("killed on the node", () => {
        const now = statusOnNode(node, r.run_id);
        return now.state === "killed" ? now : null;
      });
      expect(alive(s.pid)).toBe(false);
    }
    expect(
      q<{ last_reason: string }>("SELECT last_reason FROM tasks WHERE task_id = 'stuck-1'")[0]!.last_reason,
    ).toBe("timeout");
  });

  test("a node whose sshd stops goes offline and comes back by itself", async () => {
    const n = nodes[0]!;
    await n.stop();
    await waitFor(
      "h1 offline",
      () => count("SELECT COUNT(*) AS n FROM nodes WHERE name = 'h1' AND online = 0") === 1,
      { timeoutMs: 15_000 },
    );
    await n.start();
    await waitFor(
      "h1 online again",
      () => count("SELECT COUNT(*) AS n FROM nodes WHERE name = 'h1' AND online = 1") === 1,
      { timeoutMs: 20_000 },
    );
    submit("after", {
      "after-1": { command: "true" },
      "after-2": { command: "true" },
      "after-3": { command: "true" },
    });
    await waitFor(
      "work runs again",
      () =>
        count("SELECT COUNT(*) AS n FROM tasks WHERE task_id LIKE 'after-%' AND status = 'succeeded'") === 3,
      { timeoutMs: 20_000 },
    );
  });
});

describe("factory", () => {
  test("inbox files become tasks and move to processed/; a broken one lands in failed/ with its reason", async () => {
    mkdirSync(inbox, { recursive: true });
    writeFileSync(join(inbox, "inbox-a.md"), spec("inbox-a", { command: "true", project: "inboxed" }));
    writeFileSync(
      join(inbox, "inbox-b.md"),
      spec("inbox-b", { command: "true", project: "inboxed", depends_on: ["inbox-a"] }),
    );
    writeFileSync(join(inbox, "broken.md"), "no front matter here\n");
    await waitFor(
      "inbox tasks succeeded",
      () => count("SELECT COUNT(*) AS n FROM tasks WHERE project = 'inboxed' AND status = 'succeeded'") === 2,
      { timeoutMs: 20_000 },
    );
    expect(readdirSync(join(inbox, "processed")).sort()).toEqual(["inbox-a.md", "inbox-b.md"]);
    expect(readdirSync(join(inbox, "failed")).sort()).toEqual(["broken.md", "broken.md.error"]);
    expect(readFileSync(join(inbox, "failed", "broken.md.error"), "utf8")).toMatch(/front matter/);
    expect(existsSync(join(inbox, "broken.md"))).toBe(false);
    await waitFor(
      "project_complete event",
      () =>
        count(
          "SELECT COUNT(*) AS n FROM events WHERE kind = 'project_complete' AND data LIKE '%inboxed%'",
        ) === 1,
    );
  });
});
