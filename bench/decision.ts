#!/usr/bin/env bun
/**
 * One scheduler decision over 100,000 pending tasks, 5,000 dependency edges and 50 nodes:
 * the snapshot transaction (ready set, locks, leases, nodes, breakers, window stats) plus the
 * pure decision. Target: under 20 ms.
 *   bun bench/decision.ts [--tasks 100000] [--edges 5000] [--nodes 50]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decide } from "../src/dispatch/placement.ts";
import { openStore } from "../src/store/db.ts";
import { readyTasks } from "../src/store/dispatch.ts";
import { type PlacementConfig, placementFacts } from "../src/store/placement-facts.ts";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const TASKS = arg("tasks", 100_000);
const EDGES = arg("edges", 5_000);
const NODES = arg("nodes", 50);
const ROUNDS = arg("rounds", 20);

const dir = mkdtempSync(join(tmpdir(), "oyster-bench-"));
const store = openStore(join(dir, "bench.db"));
const now = Date.now();
const t0 = performance.now();
store.tx((db) => {
  const ins = db.query(
    "INSERT INTO tasks (task_id, project, priority, executor, command, max_attempts, created_at, updated_at) VALUES (?, 'bench', ?, 'shell', 'true', 3, ?, ?)",
  );
  const path = db.query("INSERT INTO task_paths (task_id, path) VALUES (?, ?)");
  for (let i = 0; i < TASKS; i++) {
    ins.run(`t${i}`, i % 10, now - TASKS + i, now);
    if (i % 7 === 0) path.run(`t${i}`, `src/file${i % 500}.ts`);
  }
  const dep = db.query("INSERT OR IGNORE INTO task_deps (task_id, depends_on) VALUES (?, ?)");
  for (let e = 0; e < EDGES; e++) {
    const a = 1 + Math.floor(Math.random() * (TASKS - 1));
    dep.run(`t${a}`, `t${Math.floor(Math.random() * a)}`);
  }
  const node = db.query(
    "INSERT INTO nodes (name, transport, slots, online, load1, load5, load15, mem_avail_mb, swap_pct, last_probe_at, updated_at) VALUES (?, 'ssh', 4, 1, 0.5, 0.5, 0.5, 8000, 0, ?, ?)",
  );
  for (let n = 0; n < NODES; n++) node.run(`node${n}`, now, now);
  const ev = db.query("INSERT INTO dispatch_events (ts, kind, success) VALUES (?, 'launch', 1)");
  for (let i = 0; i < 2_000; i++) ev.run(now - i * 1000);
});
const setupMs = performance.now() - t0;

const PLACEMENT: PlacementConfig = {
  pools: [],
  breakerPolicy: { failures: 3, openForMs: 300_000 },
  dispatch: { window: 3_600_000, min_success_rate: 0.3, min_samples: 10, max_per_tick: 1_000 },
  resources: { max_load: 8, min_mem_mb: 512, max_swap_pct: 50 },
};
const times: number[] = [];
let launches = 0;
for (let r = 0; r < ROUNDS; r++) {
  const s = performance.now();
  // The scheduler's own snapshot (loops/scheduler.ts): the ready window, then placementFacts.
  const snap = store.tx((db) => ({ ready: readyTasks(db, now, 512), ...placementFacts(db, now, PLACEMENT) }));
  const d = decide({ ...snap, maxLaunches: PLACEMENT.dispatch.max_per_tick });
  times.push(performance.now() - s);
  launches = d.launches.length;
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)]!;
const p95 = times[Math.floor(times.length * 0.95)]!;
console.log(`setup: ${TASKS} tasks, ${EDGES} edges, ${NODES} nodes in ${setupMs.toFixed(0)} ms`);
console.log("");
console.log("figure                         value      target");
console.log(
  `decision (median of ${ROUNDS})       ${median.toFixed(2).padStart(7)} ms  < 20 ms ${median < 20 ? "ok" : "MISSED"}`,
);
console.log(`decision (p95)                 ${p95.toFixed(2).padStart(7)} ms`);
console.log(
  `launches planned per decision  ${String(launches).padStart(7)}     (= free slots: ${NODES * 4})`,
);
store.close();
rmSync(dir, { recursive: true, force: true });
