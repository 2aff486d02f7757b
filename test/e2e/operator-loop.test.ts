import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { OYSTER_BIN, oyster, spawnController, tempDir, waitFor } from "../helpers/cli.ts";
import { stopController, waitNodesOnline, writeConfig } from "../helpers/controller.ts";
import { type SshNode, startSshNode } from "../helpers/sshd.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * The operator's loop (issue 13) on the built binary over two real sshd nodes
 * (127.0.0.131-132): a task fails, `oyster logs` shows why, `submit --replace` fixes it, it
 * reruns and its dependent runs;
 * a running task cannot be replaced; `tasks retry` reruns a succeeded task; `nodes drain` moves
 * new work away while the running task finishes; `nodes check` names the node that is down;
 * `modifies` paths spelled differently, or a directory and a file under it, never overlap.
 */
const dir = tempDir("oyster-e2e-operator-");
const nodes: SshNode[] = [];
let controller: Subprocess | null = null;
const { q, count } = storeReader(join(dir.path, "o.db"));
const ledger = join(dir.path, "ledger");
const run = (args: string[]) => oyster(args, { cwd: dir.path });
const ledgerLines = () => (existsSync(ledger) ? readFileSync(ledger, "utf8").trim().split("\n") : []);
const sh = (s: string) => JSON.stringify(s);

let specN = 0;
/** One spec file in a fresh directory; `fields` are YAML front-matter lines. */
function specFile(id: string, fields: Record<string, unknown>): string {
  const d = join(dir.path, `specs-${++specN}`);
  mkdirSync(d, { recursive: true });
  const lines = Object.entries(fields).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
  writeFileSync(join(d, `${id}.md`), `---\ntask_id: ${id}\n${lines.join("\n")}\n---\nbody\n`);
  return d;
}
const status = (id: string) =>
  q<{ status: string }>("SELECT status FROM tasks WHERE task_id = ?", id)[0]?.status ?? null;
const waitStatus = (id: string, want: string, timeoutMs = 20_000) =>
  waitFor(`${id} ${want} (is ${status(id)})`, () => status(id) === want, { timeoutMs });
const nodesOf = (like: string) =>
  q<{ node: string }>("SELECT node FROM runs WHERE task_id LIKE ? ORDER BY created_at", like).map(
    (r) => r.node,
  );

beforeAll(async () => {
  nodes.push(await startSshNode({ address: "127.0.0.131", name: "n1" }));
  nodes.push(await startSshNode({ address: "127.0.0.132", name: "n2" }));
  writeConfig(dir.path, [
    "loops:",
    "  scheduler: { interval: 100ms }",
    "  probe: { interval: 300ms }",
    "  reaper: { interval: 300ms, unhealthy_after: 30s }",
    "  guardian: { interval: 200ms }",
    "breaker: { failures: 3, open_for: 10m }",
    "ssh: { connect_timeout: 2s, command_timeout: 4s }",
    "retry: { backoff: 100ms }",
    "nodes:",
    ...nodes.map((n) => `  - ${JSON.stringify(n.nodeConfig({ slots: 2 }))}`),
  ]);
  controller = spawnController(dir.path);
  await waitNodesOnline(dir.path, ["n1", "n2"]);
});

afterAll(async () => {
  await stopController(controller);
  for (const n of nodes) await n.destroy();
  dir.cleanup();
});

describe("fix and rerun", () => {
  test("a failed task fixed with submit --replace reruns and succeeds, its dependent then runs, history keeps both runs", async () => {
    expect(
      run([
        "submit",
        specFile("fix", {
          command: `echo fix-v1 >> ${sh(ledger)}; echo "boom: config.yml not found" >&2; exit 3`,
          max_attempts: 1,
        }),
      ]).code,
    ).toBe(0);
    expect(
      run(["submit", specFile("after", { depends_on: ["fix"], command: `echo after >> ${sh(ledger)}` })])
        .code,
    ).toBe(0);
    await waitStatus("fix", "dead");
    await waitStatus("after", "blocked");

    // See why: its output, read from the node it ran on, without ssh-ing there.
    const logs = run(["logs", "fix"]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain("boom: config.yml not found");
    expect(run(["tasks", "show", "fix"]).stdout).toContain("boom: config.yml not found");

    const fixed = specFile("fix", { command: `echo fix-v2 >> ${sh(ledger)}`, max_attempts: 1 });
    const plain = run(["submit", fixed]);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('"fix" already exists in the store (--replace gives it this spec');
    const r = run(["submit", "--replace", fixed]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/fix\s+replaced/);
    expect(r.stdout).toContain("submitted 1 task(s) (1 replaced");

    await waitStatus("fix", "succeeded");
    await waitStatus("after", "succeeded");
    expect(ledgerLines()).toEqual(["fix-v1", "fix-v2", "after"]);
    const shown = JSON.parse(run(["tasks", "show", "fix", "--json"]).stdout) as {
      attempts: number;
      runs: { attempt: number; state: string; exit_code: number | null }[];
    };
    expect(shown.runs.map((x) => [x.attempt, x.state, x.exit_code])).toEqual([
      [1, "failed", 3],
      [2, "succeeded", 0],
    ]);
    // Attempts were reset by the replacement: the new spec spent one of its own.
    expect(shown.attempts).toBe(1);
    expect(count("SELECT COUNT(*) AS n FROM events WHERE kind = 'task_replaced' AND task_id = 'fix'")).toBe(
      1,
    );
  });

  test("a running task is not replaced, and a succeeded one only with --rerun-succeeded", async () => {
    const go = join(dir.path, "slow.go");
    const cmd = `while [ ! -e ${sh(go)} ]; do sleep 0.05; done; echo slow >> ${sh(ledger)}`;
    expect(run(["submit", specFile("slow", { command: cmd })]).code).toBe(0);
    await waitStatus("slow", "running");
    const r = run(["submit", "--replace", specFile("slow", { command: "echo never" })]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /"slow" is running \(run slow-a1-\S+ running on node n[12]\); it cannot be replaced while it runs/,
    );
    expect(r.stderr).toContain("nothing was submitted");
    writeFileSync(go, "");
    await waitStatus("slow", "succeeded");
    const again = run(["submit", "--replace", specFile("slow", { command: "echo never" })]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(
      '"slow" already succeeded; --rerun-succeeded replaces it and runs it again',
    );
    expect(ledgerLines().filter((l) => l === "slow")).toHaveLength(1);
    expect(count("SELECT COUNT(*) AS n FROM runs WHERE task_id = 'slow'")).toBe(1);
  });

  test("tasks retry of a succeeded task reruns it; its succeeded dependent stays", async () => {
    const r = run(["tasks", "retry", "fix"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("fix: succeeded → pending (rerun");
    await waitFor("fix rerun", () => count("SELECT COUNT(*) AS n FROM runs WHERE task_id = 'fix'") === 3, {
      timeoutMs: 20_000,
    });
    await waitStatus("fix", "succeeded");
    expect(ledgerLines().filter((l) => l === "fix-v2")).toHaveLength(2);
    expect(status("after")).toBe("succeeded");
    expect(count("SELECT COUNT(*) AS n FROM runs WHERE task_id = 'after'")).toBe(1);
  });

  test("submit --replace --rerun-succeeded --api goes through the controller and reruns a succeeded task", async () => {
    const r = run([
      "submit",
      "--replace",
      "--rerun-succeeded",
      "--api",
      specFile("after", { depends_on: ["fix"], command: `echo after-v2 >> ${sh(ledger)}` }),
    ]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/submitted 1 task\(s\) through http:\/\/\S+: after \(replaced: after\)/);
    await waitFor(
      "after rerun",
      () => count("SELECT COUNT(*) AS n FROM runs WHERE task_id = 'after'") === 2,
      {
        timeoutMs: 20_000,
      },
    );
    await waitStatus("after", "succeeded");
    expect(ledgerLines().at(-1)).toBe("after-v2");
  });
});

describe("node operations", () => {
  test("a drained node finishes its running task, takes no new work, --wait returns when it is idle, undrain brings it back", async () => {
    expect(run(["nodes", "drain", "n2"]).stdout).toContain("node n2 draining: no new launches; idle");
    const go = join(dir.path, "hold.go");
    const cmd = `while [ ! -e ${sh(go)} ]; do sleep 0.05; done; echo hold >> ${sh(ledger)}`;
    expect(run(["submit", specFile("hold", { command: cmd })]).code).toBe(0);
    await waitStatus("hold", "running");
    expect(nodesOf("hold")).toEqual(["n1"]);

    expect(run(["nodes", "undrain", "n2"]).stdout).toContain("node n2 undrained");
    const d = run(["nodes", "drain", "n1"]);
    expect(d.stdout).toContain("node n1 draining: no new launches; 1 run(s) still active there");
    const env: Record<string, string> = { NO_COLOR: "1" };
    for (const [k, v] of Object.entries(process.env))
      if (v !== undefined && !k.startsWith("OYSTER_")) env[k] = v;
    const waiter = Bun.spawn([OYSTER_BIN, "nodes", "drain", "n1", "--wait"], {
      cwd: dir.path,
      env,
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      for (const id of ["w1", "w2", "w3"])
        expect(run(["submit", specFile(id, { command: `echo ${id} >> ${sh(ledger)}` })]).code).toBe(0);
      for (const id of ["w1", "w2", "w3"]) await waitStatus(id, "succeeded");
      expect(nodesOf("w%")).toEqual(["n2", "n2", "n2"]);
      const listed = run(["nodes"]).stdout;
      expect(listed.split("\n")[0]).toMatch(/REASON$/);
      expect(listed).toMatch(/n1 .*draining \(1 running\)/);
      const gaveUp = run(["nodes", "drain", "n1", "--wait", "--timeout", "300ms"]);
      expect(gaveUp.code).toBe(1);
      expect(gaveUp.stderr).toContain("still not idle after 300ms: n1 (they stay drained)");
      // Still draining: the node is not idle while hold runs.
      expect(waiter.exitCode).toBeNull();
      expect(status("hold")).toBe("running");

      writeFileSync(go, "");
      await waitStatus("hold", "succeeded");
      await waitFor("drain --wait returned", () => waiter.exitCode !== null, { timeoutMs: 10_000 });
      expect(waiter.exitCode).toBe(0);
      expect(await new Response(waiter.stdout).text()).toContain("node n1 is idle");
    } finally {
      if (waiter.exitCode === null) waiter.kill("SIGKILL");
      await waiter.exited;
    }

    expect(run(["nodes", "undrain", "n1"]).code).toBe(0);
    expect(run(["nodes", "drain", "n2"]).code).toBe(0);
    expect(run(["submit", specFile("back", { command: `echo back >> ${sh(ledger)}` })]).code).toBe(0);
    await waitStatus("back", "succeeded");
    expect(nodesOf("back")).toEqual(["n1"]);
    expect(run(["nodes", "undrain", "n2"]).code).toBe(0);
    const json = JSON.parse(run(["nodes", "--json"]).stdout) as { name: string; draining: number }[];
    expect(json.map((n) => [n.name, n.draining])).toEqual([
      ["n1", 0],
      ["n2", 0],
    ]);
  });

  test("nodes install --all and nodes check: every node's version and host key, and the one that is down named with its reason", async () => {
    const installed = run(["nodes", "install", "--all"]);
    expect(installed.stderr).toBe("");
    expect(installed.stdout).toMatch(/^node n1 now runs oyster \S+.*\nnode n2 now runs oyster \S+.*\n$/);
    expect(run(["nodes", "install"]).code).toBe(2);
    const ok = run(["nodes", "check", "--all"]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout.split("\n")[0]).toMatch(/^NODE\s+REACHABLE\s+HOST KEY\s+VERSION\s+LOAD\s+MEM\s+SWAP/);
    expect(ok.stdout).toMatch(/n1\s+yes\s+verified\s+oyster \S+/);
    expect(ok.stdout).toMatch(/n2\s+yes\s+verified\s+oyster \S+/);

    await nodes[1]!.stop();
    try {
      const bad = run(["nodes", "check", "--all"]);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/n1\s+yes\s+verified/);
      expect(bad.stdout).toMatch(/n2\s+no\s+not checked\s+-.*ECONNREFUSED/);
      expect(bad.stderr).toContain("1 of 2 node(s) failed the check: n2");
      const one = JSON.parse(run(["nodes", "check", "n2", "--json"]).stdout) as {
        node: string;
        ok: boolean;
        error: string;
      }[];
      expect(one).toEqual([expect.objectContaining({ node: "n2", ok: false })]);
      expect(one[0]!.error).toContain("127.0.0.132");
      expect(run(["nodes", "check", "nope"]).code).toBe(2);
      // The controller's view: offline, with the reason, in `oyster nodes`.
      await waitFor("n2 offline", () =>
        count("SELECT COUNT(*) AS n FROM nodes WHERE name = 'n2' AND online = 0"),
      );
      expect(run(["nodes"]).stdout).toMatch(/n2 .*offline: /);
      const st = run(["status"]).stdout;
      expect(st).toMatch(/NODE\s+STATE\s+SLOTS\s+LOAD\s+MEM\s+BREAKER\s+REASON/);
      expect(st).toMatch(/n2\s+offline .*offline: /);
    } finally {
      await nodes[1]!.start();
    }
    await waitFor(
      "n2 online again",
      () => count("SELECT COUNT(*) AS n FROM nodes WHERE name = 'n2' AND online = 1"),
      {
        timeoutMs: 10_000,
      },
    );
  });
});

describe("modifies means paths", () => {
  test("./src/a.ts and src//a.ts, and src/ and src/x/y.ts, never run at once (ledger timestamps)", async () => {
    const paths: Record<string, string> = { p1: "./src/a.ts", p2: "src//a.ts", p3: "src/", p4: "src/x/y.ts" };
    const times = join(dir.path, "times");
    for (const [id, p] of Object.entries(paths)) {
      const cmd = `echo "${id} start $(date +%s%N)" >> ${sh(times)}; sleep 0.4; echo "${id} end $(date +%s%N)" >> ${sh(times)}`;
      expect(run(["submit", specFile(id, { command: cmd, modifies: [p] })]).code).toBe(0);
    }
    for (const id of Object.keys(paths)) await waitStatus(id, "succeeded", 30_000);
    const span = new Map<string, [number, number]>();
    for (const line of readFileSync(times, "utf8").trim().split("\n")) {
      const [id, what, ns] = line.split(" ");
      const s = span.get(id!) ?? [0, 0];
      s[what === "start" ? 0 : 1] = Number(BigInt(ns!) / 1_000_000n);
      span.set(id!, s);
    }
    const overlap = (a: string, b: string) => {
      const [s1, e1] = span.get(a)!;
      const [s2, e2] = span.get(b)!;
      return s1 < e2 && s2 < e1;
    };
    // p1/p2 are one file; p3 is the directory holding all of them.
    for (const [a, b] of [
      ["p1", "p2"],
      ["p3", "p1"],
      ["p3", "p2"],
      ["p3", "p4"],
    ] as const)
      expect(`${a}/${b} ${overlap(a, b) ? "overlap" : "apart"}`).toBe(`${a}/${b} apart`);
    const shown = JSON.parse(run(["tasks", "show", "p2", "--json"]).stdout) as { modifies: string[] };
    expect(shown.modifies).toEqual(["src/a.ts"]);
  });
});
