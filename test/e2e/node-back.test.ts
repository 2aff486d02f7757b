import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { oyster, spawnController, tempDir, waitFor } from "../helpers/cli.ts";
import { stopController, waitNodesOnline, writeConfig } from "../helpers/controller.ts";
import { type SshNode, startSshNode } from "../helpers/sshd.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * A node that answers is back (issue 13.5), on the built binary against a real sshd
 * (127.0.0.133) with `open_for: 10m`: once the probes have opened the node's breaker, restarting
 * sshd brings the node online with its breaker HALF_OPEN within one probe interval, the one
 * launch it admits closes it, and the waiting work runs — not ten minutes later.
 */
const PROBE_MS = 1_000;
const dir = tempDir("oyster-e2e-node-back-");
let node: SshNode;
let controller: Subprocess | null = null;
const { q, count } = storeReader(join(dir.path, "o.db"));
const ledger = join(dir.path, "ledger");
const breaker = () =>
  q<{ state: string }>("SELECT state FROM breakers WHERE key = 'node:b1'")[0]?.state ?? "CLOSED";

beforeAll(async () => {
  node = await startSshNode({ address: "127.0.0.133", name: "b1" });
  writeConfig(dir.path, [
    "loops:",
    "  scheduler: { interval: 100ms }",
    `  probe: { interval: ${PROBE_MS}ms }`,
    // The reaper's own recovery of offline nodes runs every 5th cycle: slower than the probe here.
    "  reaper: { interval: 2s, unhealthy_after: 30s }",
    "breaker: { failures: 2, open_for: 10m }",
    "ssh: { connect_timeout: 1s, command_timeout: 3s }",
    "retry: { backoff: 100ms }",
    "nodes:",
    `  - ${JSON.stringify(node.nodeConfig({ slots: 2 }))}`,
  ]);
  controller = spawnController(dir.path);
  await waitNodesOnline(dir.path, ["b1"]);
});

afterAll(async () => {
  await stopController(controller);
  await node.destroy();
  dir.cleanup();
});

describe("a node that answers is back", () => {
  test("sshd restarted: online and HALF_OPEN within one probe interval, CLOSED after its launch, the waiting task runs", async () => {
    await node.stop();
    await waitFor("b1's breaker OPEN", () => breaker() === "OPEN", { timeoutMs: 15_000 });
    expect(count("SELECT COUNT(*) AS n FROM nodes WHERE name = 'b1' AND online = 0")).toBe(1);

    const d = join(dir.path, "specs");
    mkdirSync(d, { recursive: true });
    writeFileSync(
      join(d, "waiting.md"),
      `---\ntask_id: waiting\ncommand: ${JSON.stringify(`echo ran >> ${JSON.stringify(ledger)}`)}\n---\nbody\n`,
    );
    expect(oyster(["submit", d], { cwd: dir.path }).code).toBe(0);
    // Nowhere to run while the node is away.
    await Bun.sleep(PROBE_MS);
    expect(count("SELECT COUNT(*) AS n FROM runs WHERE task_id = 'waiting'")).toBe(0);

    const cutoff = Date.now() - 1; // events are stamped in ms by the controller on this same host
    await node.start();
    const back = Date.now();
    await waitFor(
      "b1 online",
      () => count("SELECT COUNT(*) AS n FROM nodes WHERE name = 'b1' AND online = 1") === 1,
      { timeoutMs: 10_000, intervalMs: 20 },
    );
    const onlineAfter = Date.now() - back;
    await waitFor("waiting succeeded", () =>
      count("SELECT COUNT(*) AS n FROM tasks WHERE task_id = 'waiting' AND status = 'succeeded'"),
    );
    const doneAfter = Date.now() - back;
    // Within one probe interval of sshd answering (plus the probe's own round trip), not open_for.
    expect(onlineAfter).toBeLessThan(PROBE_MS + 1_000);
    expect(doneAfter).toBeLessThan(PROBE_MS + 3_000);
    expect(breaker()).toBe("CLOSED");
    // The order of things: HALF_OPEN on the answer, then the one launch, then CLOSED.
    const events = q<{ kind: string }>(
      `SELECT kind FROM events WHERE ts >= ? AND (kind IN ('circuit_half_open','circuit_closed','task_dispatched'))
       ORDER BY id`,
      cutoff,
    ).map((e) => e.kind);
    expect(events).toEqual(["circuit_half_open", "task_dispatched", "circuit_closed"]);
    expect(existsSync(ledger) ? readFileSync(ledger, "utf8") : "").toBe("ran\n");
  });
});
