#!/usr/bin/env bun
import { Database } from "bun:sqlite";
/**
 * Makespan: 200 tasks of `sleep 0.2` on 4 sshd nodes × 4 slots (ideal: 200 × 0.2 / 16 = 2.5 s),
 * oyster vs GNU parallel --sshlogin on the same nodes in the same run.
 * Targets: oyster ≤ 1.3 × ideal; at least 4 × faster than GNU parallel.
 * Also: the controller's idle RSS with 4 nodes (target < 80 MB).
 *   bun bench/makespan.ts [--tasks 200] [--sleep 0.2]
 * Needs /usr/sbin/sshd (openssh-server) and GNU parallel; builds nothing: run `npm run build` first.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, OYSTER_BIN, tempDir, waitFor } from "../test/helpers/cli.ts";
import { type SshNode, startSshNode } from "../test/helpers/sshd.ts";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const TASKS = arg("tasks", 200);
const SLEEP = arg("sleep", 0.2);
const NODES = 4;
const SLOTS = 4;
const ideal = (TASKS * SLEEP) / (NODES * SLOTS);

const dir = tempDir("oyster-makespan-");
const nodes: SshNode[] = [];
try {
  for (let i = 0; i < NODES; i++) nodes.push(await startSshNode({ address: `127.0.0.${20 + i}` }));

  // --- oyster ---
  const work = dir.path;
  const specs = join(work, "specs");
  mkdirSync(specs);
  for (let i = 0; i < TASKS; i++) {
    writeFileSync(join(specs, `t${i}.md`), `---\ntask_id: t${i}\ncommand: sleep ${SLEEP}\n---\nbench\n`);
  }
  const yaml = [
    "store: ./bench.db",
    "http: { port: 0 }",
    "loops: { scheduler: { interval: 100ms }, probe: { interval: 5s }, reaper: { interval: 2s } }",
    "nodes:",
    ...nodes.map((n) => `  - ${JSON.stringify({ ...n.nodeConfig(), slots: SLOTS })}`),
  ].join("\n");
  writeFileSync(join(work, "oyster.yaml"), `${yaml}\n`);
  const ctl = Bun.spawn([OYSTER_BIN, "run", "--quiet"], {
    cwd: work,
    stdout: "ignore",
    stderr: "inherit",
    env: cleanEnv(),
  });
  const rss = () =>
    Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${ctl.pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
  await waitFor("the store", () => Bun.file(join(work, "bench.db")).exists(), { timeoutMs: 10_000 });
  const db = new Database(join(work, "bench.db"), { readonly: true });
  await waitFor(
    "4 nodes online",
    () => (db.query("SELECT COUNT(*) AS n FROM nodes WHERE online = 1").get() as { n: number }).n === NODES,
    { timeoutMs: 20_000 },
  );
  await Bun.sleep(2_000);
  const idleMb = rss();
  const submit = Bun.spawnSync([OYSTER_BIN, "submit", specs], {
    cwd: work,
    stdout: "pipe",
    stderr: "pipe",
    env: cleanEnv(),
  });
  if (submit.exitCode !== 0) throw new Error(`submit failed: ${submit.stderr}`);
  await waitFor(
    "all tasks done",
    () =>
      (db.query("SELECT COUNT(*) AS n FROM tasks WHERE status = 'succeeded'").get() as { n: number }).n ===
      TASKS,
    { timeoutMs: 120_000, intervalMs: 20 },
  );
  const span = db.query("SELECT MIN(created_at) AS a, MAX(finished_at) AS b FROM runs").get() as {
    a: number;
    b: number;
  };
  const oysterSec = (span.b - span.a) / 1000;
  const lat = db
    .query(
      "SELECT AVG(started_at - created_at) AS launch, AVG(finished_at - started_at) AS run, MAX(started_at - created_at) AS worst FROM runs",
    )
    .get() as { launch: number; run: number; worst: number };
  if (process.env.BENCH_DEBUG) {
    const gap = db
      .query(
        "SELECT AVG((SELECT MIN(b.created_at) FROM runs b WHERE b.node = a.node AND b.created_at >= a.finished_at) - a.finished_at) AS g FROM runs a",
      )
      .get();
    const seen = db
      .query(
        "SELECT AVG(ts - r.finished_at) AS lag FROM events e JOIN runs r ON r.run_id = e.run_id WHERE e.kind = 'run_succeeded'",
      )
      .get();
    console.error(lat, gap, seen);
  }
  await Bun.sleep(2_000);
  const afterMb = rss();
  ctl.kill("SIGTERM");
  await ctl.exited;
  db.close();

  // --- GNU parallel on the same nodes (a full ssh command per sshlogin, since ports differ) ---
  let parallelSec: number | null = null;
  if (Bun.which("parallel")) {
    const logins = nodes
      .map(
        (n) =>
          `${SLOTS}/ssh -i ${n.keyPath} -o UserKnownHostsFile=${n.known_hosts} -o BatchMode=yes -p ${n.port} root@${n.host}`,
      )
      .join(",");
    const t0 = performance.now();
    const p = Bun.spawnSync(
      ["parallel", "--will-cite", "--sshlogin", logins, "sleep", ":::", ...Array(TASKS).fill(String(SLEEP))],
      { stdout: "ignore", stderr: "pipe" },
    );
    if (p.exitCode === 0) parallelSec = (performance.now() - t0) / 1000;
    else console.error(`GNU parallel failed: ${p.stderr.toString().slice(0, 400)}`);
  }

  const row = (a: string, b: string, c: string) => console.log(`${a.padEnd(34)}${b.padStart(12)}   ${c}`);
  console.log(
    `\n${TASKS} × sleep ${SLEEP} on ${NODES} sshd nodes × ${SLOTS} slots (ideal ${ideal.toFixed(2)} s)\n`,
  );
  row("figure", "value", "target");
  row("oyster makespan", `${oysterSec.toFixed(2)} s`, "");
  row(
    "oyster / ideal",
    `${(oysterSec / ideal).toFixed(2)} ×`,
    `≤ 1.3 × ${oysterSec / ideal <= 1.3 ? "ok" : "MISSED"}`,
  );
  if (parallelSec !== null) {
    row("GNU parallel --sshlogin makespan", `${parallelSec.toFixed(2)} s`, "");
    row(
      "GNU parallel / oyster",
      `${(parallelSec / oysterSec).toFixed(1)} ×`,
      `≥ 4 × ${parallelSec / oysterSec >= 4 ? "ok" : "MISSED"}`,
    );
  }
  row("controller RSS, idle, 4 nodes", `${idleMb.toFixed(1)} MB`, `< 80 MB ${idleMb < 80 ? "ok" : "MISSED"}`);
  row("controller RSS, idle after the run", `${afterMb.toFixed(1)} MB`, "");
} finally {
  for (const n of nodes) await n.destroy();
  dir.cleanup();
}
