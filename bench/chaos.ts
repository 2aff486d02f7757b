#!/usr/bin/env bun
/**
 * Chaos (issue 10): a DAG of 200 tasks on 3 real sshd nodes while random faults hit the
 * controller, the nodes and the network, round after round. Every execution appends a line to
 * one ledger (the nodes share this machine's filesystem), so what ran is read from the tasks'
 * own record, not from the store. Prints, per fault, how long the controller took to recover,
 * and for the whole run: executions per succeeded task (must be exactly 1), overlapping
 * executions of one task (0), tasks lost (0) and false outcomes (a task the store calls
 * succeeded without a completed execution, or failed although its only execution completed: 0).
 *
 *   bun bench/chaos.ts [--rounds 8] [--tasks 200] [--seed 1]
 *
 * Faults: the controller killed with -9 and restarted; the controller stopped (SIGSTOP) for
 * 5 s; a node's sshd killed for 5 s; a node's sshd stopped (hung) for 5 s; a node whose replies
 * are delayed past ssh.command_timeout for 5 s, or whose start requests arrive 8 s late, past
 * the ghost grace, for 5 s (a proxy in front of `oyster exec`).
 */
import { Database } from "bun:sqlite";
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Subprocess } from "bun";
import { cleanEnv, OYSTER_BIN, tempDir, waitFor } from "../test/helpers/cli.ts";
import { type SshNode, startSshNode } from "../test/helpers/sshd.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "8" },
    tasks: { type: "string", default: "200" },
    seed: { type: "string", default: "1" },
    keep: { type: "boolean", default: false },
  },
});
const ROUNDS = Number(values.rounds);
const TASKS = Number(values.tasks);
/** Width of one DAG layer: each task depends on one or two tasks of the layer before it. */
const LAYER = 20;
/** How long a fault lasts before it is undone. */
const FAULT_MS = 5_000;
/** Quiet time between the end of one fault's recovery and the next fault. */
const GAP_MS = 2_000;
const COMMAND_TIMEOUT = "2s";

let seed = Number(values.seed) || 1;
/** Deterministic PRNG (mulberry32) so a run can be repeated fault for fault. */
function rand(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

const dir = tempDir("oyster-chaos-");
const ledger = join(dir.path, "ledger.log");
const dbPath = join(dir.path, "chaos.db");
const nodes: SshNode[] = [];
/** The running controller; an object so closures see restarts (a bare `let` narrows to null). */
const ctl: { proc: Subprocess | null } = { proc: null };

function startController(): void {
  ctl.proc = Bun.spawn([OYSTER_BIN, "run", "--log-format", "json"], {
    cwd: dir.path,
    stdout: "ignore",
    stderr: Bun.file(join(dir.path, "controller.log")),
    env: cleanEnv({ NO_COLOR: "1" }),
  });
}

function store<T>(fn: (db: Database) => T): T {
  const db = new Database(dbPath, { readonly: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}
const count = (sql: string) => store((db) => (db.query(sql).get() as { n: number }).n);
const succeeded = () => count("SELECT COUNT(*) AS n FROM tasks WHERE status = 'succeeded'");
const unfinished = () =>
  count("SELECT COUNT(*) AS n FROM tasks WHERE status NOT IN ('succeeded','dead','cancelled','blocked')");

async function healthy(): Promise<boolean> {
  // Read the URL every time: a restarted controller binds a new free port and records it.
  const httpUrl = store(
    (db) =>
      (db.query("SELECT value FROM settings WHERE key = 'http_url'").get() as { value: string } | null)
        ?.value ?? "",
  );
  if (!httpUrl) return false;
  try {
    const r = await fetch(`${httpUrl}/health`, { signal: AbortSignal.timeout(1_000) });
    return r.status === 200;
  } catch {
    return false;
  }
}

type Fault = { name: string; inject: () => Promise<void> | void; undo: () => Promise<void> | void };

function faults(): Fault[] {
  const node = pick(nodes);
  const slowFlag = join(dir.path, `slow-${node.name}`);
  const heldFlag = join(dir.path, `held-${node.name}`);
  return [
    {
      name: "controller kill -9",
      inject: async () => {
        ctl.proc?.kill("SIGKILL");
        await ctl.proc?.exited;
      },
      undo: () => startController(),
    },
    {
      name: "controller SIGSTOP 5s",
      inject: () => ctl.proc?.kill("SIGSTOP"),
      undo: () => ctl.proc?.kill("SIGCONT"),
    },
    { name: `sshd of ${node.name} down 5s`, inject: () => node.stop(), undo: () => node.start() },
    {
      name: `sshd of ${node.name} hung 5s`,
      inject: () => {
        const pid = node.pid();
        if (pid) process.kill(pid, "SIGSTOP");
      },
      undo: () => {
        const pid = node.pid();
        if (pid) process.kill(pid, "SIGCONT");
      },
    },
    {
      name: `replies of ${node.name} delayed 4s`,
      inject: () => writeFileSync(slowFlag, ""),
      undo: () => rmSync(slowFlag, { force: true }),
    },
    {
      name: `start requests to ${node.name} held up ${HELD_S}s`,
      inject: () => {
        heldFaults++;
        writeFileSync(heldFlag, "");
      },
      undo: () => rmSync(heldFlag, { force: true }),
    },
  ];
}

/** How long a held-up start request takes to reach the node: past the ghost grace. */
const HELD_S = 8;
let heldFaults = 0;

/**
 * A proxy in front of `oyster exec`. While the node's slow flag exists each reply line is delayed;
 * while its held flag exists each start request (one-off or on the agent session) reaches the
 * node HELD_S late, in a session of its own so the controller's KILL of the timed-out channel
 * does not stop it: a stalled network path delivering a start after the controller gave up.
 */
function slowProxy(node: SshNode): string {
  const path = join(dir.path, `oyster-proxy-${node.name}`);
  const slow = join(dir.path, `slow-${node.name}`);
  const held = join(dir.path, `held-${node.name}`);
  writeFileSync(
    path,
    `#!/bin/bash
replies() { while IFS= read -r line; do [ -e "${slow}" ] && sleep 4; printf '%s\\n' "$line"; done; }
if [ "$1" = exec ] && [ "$2" = agent ]; then
  while IFS= read -r line; do
    case "$line" in *'"op":"start"'*) if [ -e "${held}" ]; then (sleep ${HELD_S}; printf '%s\\n' "$line") & continue; fi ;; esac
    printf '%s\\n' "$line"
  done | "${node.binPath}" "$@" | replies
  exit "\${PIPESTATUS[1]}"
fi
if [ "$1" = exec ] && [ "$2" = start ] && [ -e "${held}" ]; then
  f=$(mktemp "${dir.path}/held-req.XXXXXX"); cat > "$f"
  HELD="$f" setsid bash -c 'sleep ${HELD_S}; "$0" "$@" < "$HELD" > /dev/null 2>&1; rm -f "$HELD"' "${node.binPath}" "$@" < /dev/null > /dev/null 2>&1 &
  exec sleep 30
fi
"${node.binPath}" "$@" | replies
exit "\${PIPESTATUS[0]}"
`,
  );
  chmodSync(path, 0o755);
  return path;
}

function writeSpecs(): void {
  const specs = join(dir.path, "specs");
  Bun.spawnSync(["mkdir", "-p", specs]);
  for (let i = 0; i < TASKS; i++) {
    const layer = Math.floor(i / LAYER);
    const deps: string[] = [];
    if (layer > 0) {
      const prev = (layer - 1) * LAYER;
      deps.push(`t${prev + Math.floor(rand() * LAYER)}`);
      if (rand() < 0.5) deps.push(`t${prev + Math.floor(rand() * LAYER)}`);
    }
    const ms = 1000 + Math.floor(rand() * 2000);
    const cmd = `echo "start $OYSTER_TASK_ID $OYSTER_RUN_ID $(date +%s%N)" >> ${ledger}; sleep ${(ms / 1000).toFixed(2)}; echo "end $OYSTER_TASK_ID $OYSTER_RUN_ID $(date +%s%N)" >> ${ledger}`;
    writeFileSync(
      join(specs, `t${i}.md`),
      `---\ntask_id: t${i}\nproject: chaos\npriority: ${layer}\ndepends_on: ${JSON.stringify([...new Set(deps)])}\ncommand: ${JSON.stringify(cmd)}\n---\nchaos task ${i}\n`,
    );
  }
  const r = Bun.spawnSync([OYSTER_BIN, "submit", specs], {
    cwd: dir.path,
    env: cleanEnv({ NO_COLOR: "1" }),
  });
  if (r.exitCode !== 0) throw new Error(`submit failed: ${r.stderr.toString()}`);
}

interface Recovery {
  fault: string;
  healthMs: number;
  progressMs: number | null;
}

async function main(): Promise<void> {
  for (let i = 0; i < 3; i++) nodes.push(await startSshNode({ address: `127.0.0.${60 + i}` }));
  writeFileSync(
    join(dir.path, "oyster.yaml"),
    [
      "store: ./chaos.db",
      "http: { port: 0 }",
      "loops:",
      ...["scheduler", "probe", "reaper", "guardian", "factory"].map((l) => `  ${l}: { interval: 1s }`),
      "retry: { backoff: 500ms, max_backoff: 2s, max_attempts: 5 }",
      "breaker: { failures: 3, open_for: 3s }",
      `ssh: { command_timeout: ${COMMAND_TIMEOUT}, connect_timeout: 2s, keepalive: 1s }`,
      "factory: { inbox: ./inbox, min_pending: 0 }",
      "nodes:",
      ...nodes.map((n) => `  - ${JSON.stringify({ ...n.nodeConfig(), slots: 4, oyster_bin: slowProxy(n) })}`),
      "",
    ].join("\n"),
  );
  writeSpecs();
  startController();
  await waitFor("the controller healthy", healthy, { timeoutMs: 20_000, intervalMs: 100 });
  const t0 = Date.now();
  const recoveries: Recovery[] = [];
  for (let round = 0; round < ROUNDS && unfinished() > 0; round++) {
    const fault = pick(faults());
    const before = succeeded();
    console.error(`round ${round + 1}: ${fault.name} (${before}/${TASKS} succeeded)`);
    await fault.inject();
    await Bun.sleep(FAULT_MS);
    await fault.undo();
    const undoneAt = Date.now();
    await waitFor("/health 200 after the fault", healthy, { timeoutMs: 120_000, intervalMs: 50 });
    const healthMs = Date.now() - undoneAt;
    let progressMs: number | null = null;
    if (unfinished() > 0) {
      await waitFor("a task to succeed after the fault", () => succeeded() > before || unfinished() === 0, {
        timeoutMs: 120_000,
        intervalMs: 50,
      });
      progressMs = Date.now() - undoneAt;
    }
    recoveries.push({ fault: fault.name, healthMs, progressMs });
    await Bun.sleep(GAP_MS);
  }
  await waitFor("every task final", () => unfinished() === 0, { timeoutMs: 300_000, intervalMs: 250 });
  const wallS = (Date.now() - t0) / 1000;
  // Start requests still held up on the way reach their node within HELD_S: what they start
  // (they must start nothing) has to be in the ledger before it is read.
  if (heldFaults) await Bun.sleep((HELD_S + 2) * 1000);

  // The ledger is the truth of what ran; the store is what oyster believes.
  const lines = existsSync(ledger) ? readFileSync(ledger, "utf8").trim().split("\n").filter(Boolean) : [];
  const starts = new Map<string, number>();
  const ends = new Map<string, number>();
  const spans = new Map<string, { start: bigint; end: bigint | null }[]>();
  const runOf = new Map<string, { start: bigint; end: bigint | null }>();
  for (const line of lines) {
    const [kind, task, run, ns] = line.split(" ") as [string, string, string, string];
    const m = kind === "start" ? starts : ends;
    m.set(task, (m.get(task) ?? 0) + 1);
    if (kind === "start") {
      const span = { start: BigInt(ns), end: null as bigint | null };
      runOf.set(run, span);
      spans.set(task, [...(spans.get(task) ?? []), span]);
    } else {
      const span = runOf.get(run);
      if (span) span.end = BigInt(ns);
    }
  }
  let overlaps = 0;
  for (const list of spans.values()) {
    const sorted = [...list].sort((a, b) => (a.start < b.start ? -1 : 1));
    for (let i = 1; i < sorted.length; i++) {
      const prevEnd = sorted[i - 1]?.end;
      // An execution with no end was killed; it overlapped if the next started before it was seen to end.
      if (prevEnd === null || prevEnd === undefined || prevEnd > (sorted[i]?.start ?? 0n)) overlaps++;
    }
  }
  const statuses = store(
    (db) => db.query("SELECT task_id, status FROM tasks").all() as { task_id: string; status: string }[],
  );
  let twice = 0;
  let falseOutcomes = 0;
  for (const t of statuses) {
    const done = ends.get(t.task_id) ?? 0;
    if (t.status === "succeeded" && done !== 1) twice += done > 1 ? 1 : 0;
    if (t.status === "succeeded" && done === 0) falseOutcomes++;
  }
  const lost = TASKS - statuses.length;
  const perTask = statuses.filter((t) => t.status === "succeeded").map((t) => ends.get(t.task_id) ?? 0);

  const fmt = (ms: number | null) => (ms === null ? "-" : `${(ms / 1000).toFixed(2)} s`);
  console.log(
    `\nchaos: ${TASKS} tasks, 3 sshd nodes × 4 slots, ${recoveries.length} faults, ${wallS.toFixed(1)} s`,
  );
  console.log("\n| fault | /health 200 after | next task done after |\n|---|---|---|");
  for (const r of recoveries) console.log(`| ${r.fault} | ${fmt(r.healthMs)} | ${fmt(r.progressMs)} |`);
  console.log("\n| figure | value | must be |\n|---|---|---|");
  console.log(
    `| succeeded tasks | ${perTask.length} | ${TASKS} |`,
    `\n| completed executions per succeeded task (min/max) | ${Math.min(...perTask)}/${Math.max(...perTask)} | 1/1 |`,
    `\n| succeeded tasks that completed more than once | ${twice} | 0 |`,
    `\n| overlapping executions of one task | ${overlaps} | 0 |`,
    `\n| tasks lost | ${lost} | 0 |`,
    `\n| false outcomes (succeeded without a completed execution) | ${falseOutcomes} | 0 |`,
    `\n| executions started / completed | ${[...starts.values()].reduce((a, b) => a + b, 0)} / ${[...ends.values()].reduce((a, b) => a + b, 0)} | |`,
  );
  // Name what went wrong, with the store's account of each run, so a failure can be chased.
  for (const t of statuses.filter((x) => (starts.get(x.task_id) ?? 0) > 1).slice(0, 10)) {
    const runs = store(
      (db) =>
        db
          .query("SELECT run_id, node, state, reason, attempt FROM runs WHERE task_id = ? ORDER BY rowid")
          .all(t.task_id) as Record<string, unknown>[],
    );
    console.log(`\n${t.task_id} (${t.status}) started ${starts.get(t.task_id)}×:`);
    for (const r of runs) console.log(`  ${JSON.stringify(r)}`);
    for (const line of lines.filter((l) => l.split(" ")[1] === t.task_id)) console.log(`  ledger: ${line}`);
  }
  process.exitCode = twice + overlaps + lost + falseOutcomes > 0 ? 1 : 0;
}

try {
  await main();
} finally {
  if (ctl.proc && ctl.proc.exitCode === null) {
    ctl.proc.kill("SIGCONT");
    ctl.proc.kill("SIGTERM");
    await ctl.proc.exited;
  }
  for (const n of nodes) {
    const pid = n.pid();
    if (pid) process.kill(pid, "SIGCONT");
    await n.destroy();
  }
  if (values.keep) console.error(`kept ${dir.path}`);
  else dir.cleanup();
}
