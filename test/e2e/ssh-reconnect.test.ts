import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { oyster, spawnController, tempDir, waitFor } from "../helpers/cli.ts";
import { stopController, waitNodesOnline, writeConfig } from "../helpers/controller.ts";
import { type SshNode, startSshNode } from "../helpers/sshd.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * A node that answers is caught up at once (issue 10 point 11), on the built binary against a
 * real sshd (127.0.0.14): sshd dies while a run goes on, the run ends meanwhile, the probes open
 * the node's breaker for 10 minutes; when sshd is back, the agent session reconnects and the
 * run's end is recorded in that moment — not when the breaker lets a probe through.
 */
const dir = tempDir("oyster-e2e-ssh-reconnect-");
let node: SshNode;
let controller: Subprocess | null = null;
const { q, count } = storeReader(join(dir.path, "o.db"));
const ledgerPath = join(dir.path, "away.ledger");

beforeAll(async () => {
  node = await startSshNode({ address: "127.0.0.14", name: "r1" });
  writeConfig(dir.path, [
    "loops:",
    "  scheduler: { interval: 100ms }",
    "  probe: { interval: 200ms }",
    "  reaper: { interval: 300ms, unhealthy_after: 30s }",
    "breaker: { failures: 2, open_for: 10m }",
    "ssh: { connect_timeout: 2s, command_timeout: 3s }",
    "retry: { backoff: 100ms }",
    "nodes:",
    `  - ${JSON.stringify(node.nodeConfig({ slots: 1 }))}`,
  ]);
  controller = spawnController(dir.path);
  await waitNodesOnline(dir.path, ["r1"]);
});

afterAll(async () => {
  await stopController(controller);
  await node.destroy();
  dir.cleanup();
});

describe("reconnect", () => {
  test("a run that ended while sshd was down is recorded as soon as the session reconnects", async () => {
    const d = join(dir.path, "specs");
    mkdirSync(d, { recursive: true });
    const marker = join(dir.path, "away.go");
    // The run waits for the test's go-ahead, so it provably ends while the node is unreachable.
    const command = `while [ ! -e ${JSON.stringify(marker)} ]; do sleep 0.05; done; echo run >> ${JSON.stringify(ledgerPath)}`;
    writeFileSync(join(d, "away.md"), `---\ntask_id: away\ncommand: ${JSON.stringify(command)}\n---\nbody\n`);
    expect(oyster(["submit", d], { cwd: dir.path }).code).toBe(0);
    await waitFor(
      "away running",
      () => count("SELECT COUNT(*) AS n FROM runs WHERE task_id = 'away' AND state = 'running'"),
      { timeoutMs: 15_000 },
    );

    await node.stop();
    await waitFor(
      "r1's breaker open",
      () => count("SELECT COUNT(*) AS n FROM breakers WHERE key = 'node:r1' AND state = 'OPEN'"),
      { timeoutMs: 15_000 },
    );
    writeFileSync(marker, "");
    await waitFor("the run ended on the node", () => existsSync(ledgerPath), { timeoutMs: 10_000 });
    const runId = q<{ run_id: string }>("SELECT run_id FROM runs WHERE task_id = 'away'")[0]!.run_id;
    await waitFor(
      "status.json final",
      () =>
        JSON.parse(readFileSync(join(node.home, "runs", runId, "status.json"), "utf8")).state === "succeeded",
    );
    // Still running in the store: nobody could ask the node.
    expect(q<{ state: string }>("SELECT state FROM runs WHERE run_id = ?", runId)[0]!.state).toBe("running");

    await node.start();
    const back = Date.now();
    await waitFor(
      "the run recorded as succeeded",
      () => count("SELECT COUNT(*) AS n FROM runs WHERE run_id = ? AND state = 'succeeded'", runId),
      { timeoutMs: 15_000 },
    );
    // Reconnect backoff is at most 5 s; the breaker would have waited 10 minutes.
    expect(Date.now() - back).toBeLessThan(8_000);
    expect(count("SELECT COUNT(*) AS n FROM tasks WHERE task_id = 'away' AND status = 'succeeded'")).toBe(1);
    expect(readFileSync(ledgerPath, "utf8")).toBe("run\n");
    expect(count("SELECT COUNT(*) AS n FROM runs WHERE task_id = 'away'")).toBe(1);
  });
});
