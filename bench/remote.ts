#!/usr/bin/env bun
import { formatTable } from "../src/cli/table.ts";
/**
 * Node round trips: a new SSH connection, a new exec on an open connection, one request on the
 * open agent channel, a launch over the agent, and the local transport's launch latency.
 * Runs a real OpenSSH sshd on 127.0.0.2 with the built binary (`npm run build` first, or set
 * OYSTER_TEST_BIN).
 *   bun bench/remote.ts [--n 50]
 */
import type { NodeConfig } from "../src/config/schema.ts";
import { LocalTransport } from "../src/remote/local.ts";
import { connectSsh } from "../src/remote/ssh/connect.ts";
import { SshConnection } from "../src/remote/ssh/connection.ts";
import { SshTransport } from "../src/remote/ssh/transport.ts";
import { OYSTER_BIN, tempDir } from "../test/helpers/cli.ts";
import { startSshNode } from "../test/helpers/sshd.ts";

const i = process.argv.indexOf("--n");
const N = i >= 0 ? Number(process.argv[i + 1]) : 50;
const opts = { connectTimeoutMs: 5_000, commandTimeoutMs: 10_000, keepaliveMs: 15_000 };

async function measure(n: number, fn: (k: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  await fn(-1); // warm-up
  for (let k = 0; k < n; k++) {
    const t0 = performance.now();
    await fn(k);
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}
const med = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
const p90 = (xs: number[]) => xs[Math.floor(xs.length * 0.9)]!;

const node = await startSshNode({ address: "127.0.0.2", name: "bench" });
const local = tempDir("oyster-bench-local-");
const rows: (string | number)[][] = [];
const row = (what: string, xs: number[]) =>
  rows.push([what, xs.length, med(xs).toFixed(2), p90(xs).toFixed(2)]);
try {
  const cfg = node.nodeConfig() as NodeConfig;
  row(
    "new SSH connection (handshake + auth)",
    await measure(Math.min(N, 20), async () => (await connectSsh(cfg, opts)).end()),
  );
  const conn = new SshConnection(cfg, opts);
  row("new exec on an open connection (`true`)", await measure(N, () => conn.exec("true")));
  row(
    "new exec: `oyster exec list --json`",
    await measure(Math.min(N, 20), () => conn.exec(`${node.binPath} exec list --json --home ${node.home}`)),
  );
  await conn.close();

  const t = new SshTransport(cfg, opts);
  await t.warm();
  row("agent channel round trip (version)", await measure(N * 4, () => t.version()));
  row("agent channel round trip (list)", await measure(N * 4, () => t.list()));
  row(
    "ssh launch over the agent (start `true`)",
    await measure(Math.min(N, 30), (k) =>
      t.start({ run_id: `ssh-${k}-${Date.now()}`, task_id: "bench", spec: "", argv: ["true"], vars: {} }),
    ),
  );
  await t.close();

  const lt = new LocalTransport("local", { home: local.path, self: [OYSTER_BIN] });
  row(
    "local transport launch (start `true`)",
    await measure(Math.min(N, 30), (k) =>
      lt.start({ run_id: `local-${k}-${Date.now()}`, task_id: "bench", spec: "", argv: ["true"], vars: {} }),
    ),
  );
  await lt.close();
} finally {
  await node.destroy();
  local.cleanup();
}
console.log(`\nnode round trips (ms), sshd on 127.0.0.2, binary ${OYSTER_BIN}\n`);
console.log(formatTable(["OPERATION", "N", "MEDIAN", "P90"], rows));
