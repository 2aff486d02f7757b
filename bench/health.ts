#!/usr/bin/env bun
/**
 * The controller's HTTP server under load (issue: bench/health): `wrk -t2 -c50 -d10s --latency`
 * on `oyster run`'s /health and /metrics while the controller dispatches a steady stream of
 * short tasks, side by side in the same run with
 *   - the seed's Python stdlib server (bench/seed_health_server.py: seeds/000's single-threaded
 *     `http.server` HealthServer, /health and /metrics), and
 *   - a bare `Bun.serve` answering a constant JSON body (its own process, not this one).
 * The controller (1 local node × 4 slots, loops at 200 ms … 2 s) and a feeder (`oyster submit` of
 * 4 tasks — `sleep 0.1` and `true` — every 500 ms) run for the whole bench, so every server sees
 * the same machine. While wrk hammers an oyster endpoint, this driver reads /health every ~50 ms
 * on its own connection and keeps, per loop, the largest `last_heartbeat_age_s − interval_s`, and
 * the largest gap between two consecutive heartbeats minus the interval (the age samples can
 * miss a peak by up to the sampling period; the gaps cannot).
 * Targets: p99 < 5 ms on both oyster endpoints; no loop heartbeat later than 100 ms beyond its
 * interval during the load.
 * Also printed, to tell load from contention: each server process's CPU use and run-queue wait
 * while wrk ran on it, and the machine's listen-queue overflows. Exits 1 when a target is missed.
 *   bun bench/health.ts [--duration 10s] [--connections 50] [--threads 2] [--warmup 1s]
 * (whole seconds: wrk takes no fractions; --warmup 0s skips the unreported warm-up run per target)
 * Needs wrk (`apt-get install wrk`) and python3; builds nothing: run `bun scripts/build-binary.ts`
 * first (or set OYSTER_TEST_BIN).
 */
import { Database } from "bun:sqlite";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { formatTable } from "../src/cli/table.ts";
import { parseDuration } from "../src/config/duration.ts";
import { OYSTER_BIN, oyster, tempDir, waitFor } from "../test/helpers/cli.ts";
import { cleanEnv, killAll, processesMentioning } from "../test/supervisor/helpers.ts";

const argStr = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
};
const DURATION = argStr("duration", "10s");
const WARMUP = argStr("warmup", "1s");
const CONNECTIONS = Number(argStr("connections", "50"));
const THREADS = Number(argStr("threads", "2"));
const durationMs = parseDuration(DURATION);
const warmupMs = parseDuration(WARMUP);
if (
  durationMs === null ||
  durationMs < 1_000 ||
  durationMs % 1_000 ||
  warmupMs === null ||
  warmupMs % 1_000
) {
  console.error(
    "bench/health: --duration wants whole seconds, e.g. 10s (at least 1s); --warmup e.g. 1s or 0s",
  );
  process.exit(2);
}
if (!(CONNECTIONS >= 1 && THREADS >= 1 && CONNECTIONS >= THREADS)) {
  console.error("bench/health: --connections and --threads want positive integers, connections ≥ threads");
  process.exit(2);
}
const WRK = Bun.which("wrk");
if (!WRK) {
  console.error("bench/health: wrk is not installed; install it with `apt-get install wrk` (Debian/Ubuntu)");
  process.exit(1);
}
const PYTHON = Bun.which("python3");
if (!PYTHON) {
  console.error("bench/health: python3 is not installed (the seed's server needs it)");
  process.exit(1);
}
if (!existsSync(OYSTER_BIN)) {
  console.error(`bench/health: no binary at ${OYSTER_BIN}; run \`bun scripts/build-binary.ts\` first`);
  process.exit(1);
}
const SEED_SERVER = resolve(import.meta.dir, "seed_health_server.py");
const TARGET_P99_MS = 5;
const TARGET_DELAY_MS = 100;
const LOOP_INTERVALS: Record<string, string> = {
  scheduler: "200ms",
  probe: "2s",
  reaper: "1s",
  guardian: "1s",
  factory: "1s",
};
const FEED_EVERY_MS = 500;
const FEED_BATCH = 4;
const SAMPLE_EVERY_MS = 50;

// ---------- processes ----------

const procs: Subprocess[] = [];
let tmp: { path: string; cleanup: () => void } | null = null;

function spawnTracked(argv: string[], cwd: string): Subprocess<"ignore", "pipe", "pipe"> {
  const p = Bun.spawn(argv, { cwd, env: cleanEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  procs.push(p);
  void p.exited.then(() => {
    const i = procs.indexOf(p);
    if (i >= 0) procs.splice(i, 1);
  });
  return p;
}

/** Keep the last 8 kB of a stream (for error messages) and hand each line to onLine. */
function tail(stream: ReadableStream<Uint8Array>, onLine?: (line: string) => void): () => string {
  let out = "";
  let partial = "";
  const dec = new TextDecoder();
  void (async () => {
    for await (const c of stream) {
      const s = dec.decode(c, { stream: true });
      out = (out + s).slice(-8_000);
      if (onLine) {
        const lines = (partial + s).split("\n");
        partial = lines.pop() ?? "";
        for (const l of lines) onLine(l);
      }
    }
  })();
  return () => out;
}

/** Start a server that prints its bound port as its first stdout line. */
async function startPortPrinter(
  name: string,
  argv: string[],
  cwd: string,
): Promise<{ port: number; pid: number }> {
  const p = spawnTracked(argv, cwd);
  let port = 0;
  const err = tail(p.stderr);
  tail(p.stdout, (l) => {
    if (!port && /^\d+$/.test(l.trim())) port = Number(l.trim());
  });
  await waitFor(`${name} to print its port`, () => port > 0 || p.exitCode !== null, { timeoutMs: 10_000 });
  if (!port) throw new Error(`${name} exited (${p.exitCode}) before printing its port:\n${err()}`);
  return { port, pid: p.pid };
}

/**
 * Nanoseconds all threads of pid spent on a CPU and runnable but waiting for one
 * (/proc/PID/task/TID/schedstat: run time, run-queue wait, timeslices).
 */
function schedstat(pid: number): { run: number; wait: number } {
  let run = 0;
  let wait = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const [r, w] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ").map(Number);
        run += r ?? 0;
        wait += w ?? 0;
      } catch {}
    }
  } catch {}
  return { run, wait };
}

async function stopAll(): Promise<void> {
  const live = [...procs];
  for (const p of live) p.kill("SIGTERM");
  await Promise.race([Promise.all(live.map((p) => p.exited)), Bun.sleep(12_000)]);
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  if (tmp) {
    // Task wrappers the controller left behind mention the temp dir (its node home).
    await Bun.sleep(300);
    killAll(processesMentioning(tmp.path));
    tmp.cleanup();
    tmp = null;
  }
}

let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\nbench/health: ${sig}, stopping everything it started …`);
    void stopAll().finally(() => process.exit(130));
  });

/** System-wide TcpExt ListenOverflows: handshakes dropped because an accept queue was full. */
function listenOverflows(): number {
  try {
    const lines = readFileSync("/proc/net/netstat", "utf8").split("\n");
    const i = lines.findIndex((l) => l.startsWith("TcpExt:"));
    const names = lines[i]?.split(/\s+/) ?? [];
    const values = lines[i + 1]?.split(/\s+/) ?? [];
    const k = names.indexOf("ListenOverflows");
    return k > 0 ? Number(values[k]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

// ---------- wrk ----------

interface WrkResult {
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  requests: number;
  /** Socket errors (connect, read, write, timeout) plus non-2xx/3xx answers. */
  errors: number;
  errorText: string;
  /**
   * A server that ends every response by closing the connection (the seed: HTTP/1.0, no
   * Content-Length) gets one wrk "read error" per response, counted after the response itself;
   * when read errors match the request count they are these closes, not failures.
   */
  closes: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** wrk's latency figures: `456.00us`, `1.23ms`, `1.02s`, `1.50m`. */
function wrkMs(s: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(s.trim());
  if (!m) throw new Error(`cannot read wrk latency "${s}"`);
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}

function parseWrk(out: string): WrkResult {
  const pct = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+(\\S+)`, "m").exec(out);
    if (!m) throw new Error(`no ${p}% line in wrk's output:\n${out}`);
    return wrkMs(m[1] as string);
  };
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(out);
  const total = /^\s*(\d+) requests in/m.exec(out);
  const max = /^\s*Latency\s+\S+\s+\S+\s+(\S+)/m.exec(out);
  if (!rps || !total || !max) throw new Error(`cannot read wrk's output:\n${out}`);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const requests = Number(total[1]);
  const parts: string[] = [];
  let errors = 0;
  let closes = 0;
  if (sock) {
    const [c, read, w, t] = sock.slice(1).map(Number) as [number, number, number, number];
    if (Math.abs(read - requests) <= Math.max(CONNECTIONS, 0.01 * requests)) closes = read;
    const r = read - closes;
    errors += c + r + w + t;
    for (const [k, v] of [
      ["connect", c],
      ["read", r],
      ["write", w],
      ["timeout", t],
    ] as const)
      if (v) parts.push(`${v} ${k}`);
  }
  if (non2xx) {
    errors += Number(non2xx[1]);
    parts.push(`${non2xx[1]} non-2xx`);
  }
  return {
    rps: Number(rps[1]),
    p50: pct("50"),
    p90: pct("90"),
    p99: pct("99"),
    max: wrkMs(max[1] as string),
    requests,
    errors,
    errorText: parts.join(", "),
    closes,
  };
}

async function wrk(url: string, duration: string): Promise<WrkResult> {
  const p = spawnTracked(
    [WRK as string, `-t${THREADS}`, `-c${CONNECTIONS}`, `-d${duration}`, "--latency", url],
    process.cwd(),
  );
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  if (code !== 0) throw new Error(`wrk ${url} exited ${code}:\n${err}${out}`);
  return parseWrk(out);
}

// ---------- heartbeats ----------

interface LoopBeats {
  intervalMs: number;
  /** Largest last_heartbeat_age − interval seen in a sample. */
  ageOverMs: number;
  /** Largest gap between consecutive heartbeats − interval. */
  gapOverMs: number;
  longestCycleMs: number;
  firstCycles: number;
  lastCycles: number;
}

interface HealthLoop {
  cycles: number;
  interval_s: number;
  last_heartbeat_age_s: number | null;
  last_duration_ms: number | null;
}

/**
 * Reads /health every SAMPLE_EVERY_MS until stopped; records only while `phase` is set. A
 * heartbeat's time is estimated as receive time − age (never earlier than the truth, off by the
 * answer's trip back), keeping the earliest estimate per cycle.
 */
function heartbeatSampler(url: string) {
  const beats = new Map<string, LoopBeats>();
  const last = new Map<string, { cycles: number; hb: number }>();
  let phase: string | null = null;
  let stop = false;
  let samples = 0;
  let failures = 0;
  let unhealthy = 0;
  const done = (async () => {
    while (!stop) {
      const t0 = performance.now();
      try {
        const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
        const body = (await r.json()) as { status: string; loops: Record<string, HealthLoop> };
        const tRecv = Date.now();
        if (phase) {
          samples++;
          if (r.status !== 200) unhealthy++;
        }
        for (const [name, l] of Object.entries(body.loops)) {
          if (l.last_heartbeat_age_s === null) continue;
          const hb = tRecv - l.last_heartbeat_age_s * 1000;
          const intervalMs = l.interval_s * 1000;
          const prev = last.get(name);
          if (phase) {
            let b = beats.get(name);
            if (!b) {
              b = {
                intervalMs,
                ageOverMs: Number.NEGATIVE_INFINITY,
                gapOverMs: Number.NEGATIVE_INFINITY,
                longestCycleMs: 0,
                firstCycles: l.cycles,
                lastCycles: l.cycles,
              };
              beats.set(name, b);
            }
            b.ageOverMs = Math.max(b.ageOverMs, l.last_heartbeat_age_s * 1000 - intervalMs);
            b.longestCycleMs = Math.max(b.longestCycleMs, l.last_duration_ms ?? 0);
            b.lastCycles = l.cycles;
            if (prev && l.cycles === prev.cycles + 1)
              b.gapOverMs = Math.max(b.gapOverMs, hb - prev.hb - intervalMs);
          }
          if (!prev || l.cycles !== prev.cycles) last.set(name, { cycles: l.cycles, hb });
          else if (hb < prev.hb) prev.hb = hb;
        }
      } catch {
        if (phase) failures++;
      }
      await Bun.sleep(Math.max(0, SAMPLE_EVERY_MS - (performance.now() - t0)));
    }
  })();
  return {
    beats,
    setPhase: (p: string | null) => {
      phase = p;
    },
    stats: () => ({ samples, failures, unhealthy }),
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

// ---------- the feeder ----------

function feeder(cwd: string) {
  const specs = join(cwd, "specs");
  mkdirSync(specs, { recursive: true });
  let stop = false;
  let batch = 0;
  let submitted = 0;
  let failures = 0;
  let lastError = "";
  const done = (async () => {
    while (!stop) {
      const t0 = performance.now();
      const dir = join(specs, `b${batch}`);
      mkdirSync(dir);
      for (let i = 0; i < FEED_BATCH; i++) {
        const id = `b${batch}-${i}`;
        const command = i % 2 ? "true" : "sleep 0.1";
        writeFileSync(
          join(dir, `${id}.md`),
          `---\ntask_id: ${id}\ncommand: ${JSON.stringify(command)}\n---\nbench\n`,
        );
      }
      batch++;
      const p = spawnTracked([OYSTER_BIN, "submit", dir], cwd);
      const [, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
      if ((await p.exited) === 0) submitted += FEED_BATCH;
      else {
        failures++;
        lastError = err.trim().split("\n").slice(-1)[0] ?? "";
      }
      await Bun.sleep(Math.max(0, FEED_EVERY_MS - (performance.now() - t0)));
    }
  })();
  return {
    stats: () => ({ submitted, failures, lastError }),
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

// ---------- the run ----------

interface Target {
  name: string;
  url: string;
  /** The server's process, for its CPU figures. */
  pid: number;
  /** Heartbeat phase while wrk runs on it (oyster endpoints only). */
  phase?: string;
  /** Row whose req/s this one is divided by in the "÷ python seed" column. */
  python?: string;
}

const results = new Map<string, WrkResult>();
const windows = new Map<string, { from: number; to: number }>();
/**
 * Per target: cores used and ms per second spent waiting for a CPU by the server's process, and
 * the machine's listen-queue overflows while it ran.
 */
const cpu = new Map<string, { cores: number; waitMsPerS: number; overflows: number }>();
let sampler: ReturnType<typeof heartbeatSampler> | null = null;
let feed: ReturnType<typeof feeder> | null = null;
let dbPath = "";
let targets: Target[] = [];
let exitCode = 0;

try {
  tmp = tempDir("oyster-bench-health-");
  const cwd = tmp.path;
  dbPath = join(cwd, "bench.db");
  writeFileSync(
    join(cwd, "oyster.yaml"),
    [
      "store: ./bench.db",
      "http: { port: 0 }",
      "nodes: [{ name: local, transport: local, slots: 4, oyster_home: ./node-home }]",
      "loops:",
      ...Object.entries(LOOP_INTERVALS).map(([l, i]) => `  ${l}: { interval: ${i} }`),
      "retry: { backoff: 200ms, max_attempts: 1, auto_revive: 0 }",
      "factory: { inbox: ./inbox, min_pending: 0 }",
      "",
    ].join("\n"),
  );
  process.stderr.write(`starting the controller, the python seed and a bare Bun.serve in ${cwd} …\n`);
  const ctl = spawnTracked([OYSTER_BIN, "run", "--port", "0", "--log-format", "json"], cwd);
  tail(ctl.stdout);
  const ctlErr = tail(ctl.stderr);
  const oysterUrl = await waitFor(
    "the controller's URL",
    () => {
      if (ctl.exitCode !== null) throw new Error(`oyster run exited ${ctl.exitCode}:\n${ctlErr()}`);
      const r = oyster(["status", "--json"], { cwd });
      if (r.code !== 0) return null;
      const s = JSON.parse(r.stdout) as { controller: { up: boolean; url: string } };
      return s.controller.up ? s.controller.url : null;
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${ctlErr()}`);
  });
  const py = await startPortPrinter("the python seed", [PYTHON, SEED_SERVER, "0"], cwd);
  const bare = await startPortPrinter(
    "the bare Bun.serve",
    [
      process.execPath,
      "-e",
      `const body = JSON.stringify({ status: "healthy", service: "bare" });
const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(body, { headers: { "Content-Type": "application/json" } }) });
console.log(s.port);`,
    ],
    cwd,
  );

  const count = (sql: string, ...params: number[]) => {
    const db = new Database(dbPath, { readonly: true });
    try {
      return (db.query(sql).get(...params) as { n: number }).n;
    } finally {
      db.close();
    }
  };
  feed = feeder(cwd);
  sampler = heartbeatSampler(oysterUrl);
  await waitFor(
    "the first fed tasks to succeed",
    () => count("SELECT COUNT(*) AS n FROM runs WHERE state = 'succeeded'") >= FEED_BATCH,
    { timeoutMs: 30_000, intervalMs: 100 },
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${ctlErr()}`);
  });

  targets = [
    {
      name: "oyster /health",
      url: `${oysterUrl}/health`,
      pid: ctl.pid,
      phase: "health",
      python: "python seed /health",
    },
    {
      name: "oyster /metrics",
      url: `${oysterUrl}/metrics`,
      pid: ctl.pid,
      phase: "metrics",
      python: "python seed /metrics",
    },
    { name: "python seed /health", url: `http://127.0.0.1:${py.port}/health`, pid: py.pid },
    { name: "python seed /metrics", url: `http://127.0.0.1:${py.port}/metrics`, pid: py.pid },
    {
      name: "bare Bun.serve",
      url: `http://127.0.0.1:${bare.port}/`,
      pid: bare.pid,
      python: "python seed /health",
    },
  ];
  for (const t of targets) {
    process.stderr.write(`wrk ${t.name} (${WARMUP} warm-up, then ${DURATION}) …\n`);
    if (warmupMs > 0) await wrk(t.url, `${warmupMs / 1000}s`);
    sampler.setPhase(t.phase ?? null);
    const from = Date.now();
    const s0 = schedstat(t.pid);
    const o0 = listenOverflows();
    results.set(t.name, await wrk(t.url, `${durationMs / 1000}s`));
    const s1 = schedstat(t.pid);
    const o1 = listenOverflows();
    const to = Date.now();
    windows.set(t.name, { from, to });
    cpu.set(t.name, {
      cores: (s1.run - s0.run) / 1e6 / (to - from),
      waitMsPerS: (s1.wait - s0.wait) / 1e6 / ((to - from) / 1000),
      overflows: o1 - o0,
    });
    sampler.setPhase(null);
    if (ctl.exitCode !== null)
      throw new Error(`oyster run exited ${ctl.exitCode} during the load:\n${ctlErr()}`);
  }
  await sampler.stop();
  await feed.stop();

  // ---------- the report ----------
  const ms = (v: number) => (v < 10 ? v.toFixed(2) : v.toFixed(1));
  const ratio = (a: number, b: number | undefined) => (b ? `${(a / b).toFixed(2)}×` : "");
  const bareRps = results.get("bare Bun.serve")?.rps;
  const rows = targets.map((t) => {
    const r = results.get(t.name) as WrkResult;
    return [
      t.name,
      r.rps.toFixed(0),
      ms(r.p50),
      ms(r.p90),
      ms(r.p99),
      ms(r.max),
      r.errors ? `${r.errors} (${r.errorText})` : "0",
      t.python ? ratio(r.rps, results.get(t.python)?.rps) : "",
      t.name === "bare Bun.serve" ? "" : ratio(r.rps, bareRps),
    ];
  });
  const cpus = navigator.hardwareConcurrency;
  console.log(
    `\nwrk -t${THREADS} -c${CONNECTIONS} -d${DURATION} --latency, one target at a time (${WARMUP} warm-up each), ${cpus} CPUs shared by wrk, the servers, the controller and its tasks; binary ${OYSTER_BIN}\n`,
  );
  console.log(
    formatTable(
      [
        "TARGET",
        "REQ/S",
        "P50 (ms)",
        "P90 (ms)",
        "P99 (ms)",
        "MAX (ms)",
        "ERRORS",
        "REQ/S ÷ PYTHON SEED",
        "REQ/S ÷ BARE BUN",
      ],
      rows,
    ),
  );

  const closing = targets.filter((t) => (results.get(t.name) as WrkResult).closes > 0).map((t) => t.name);
  if (closing.length)
    console.log(
      `\n${closing.join(", ")}: every response closes its connection (HTTP/1.0, no Content-Length), so wrk reconnects per request and counts one "read error" per response after counting the response; those are not in ERRORS.`,
    );
  console.log(
    `\nthe server's process while wrk ran on it (all threads, /proc/PID/task/*/schedstat; listen overflows machine-wide, /proc/net/netstat):\n`,
  );
  console.log(
    formatTable(
      ["TARGET", "ON A CPU (cores)", "RUNNABLE, WAITING FOR A CPU (ms/s)", "LISTEN QUEUE OVERFLOWS"],
      targets.map((t) => {
        const c = cpu.get(t.name);
        return [
          t.name,
          c?.cores.toFixed(2),
          c?.waitMsPerS.toFixed(0),
          c && Number.isFinite(c.overflows) ? c.overflows : undefined,
        ];
      }),
    ),
  );

  const oysterWindows = targets
    .filter((t) => t.phase)
    .map((t) => windows.get(t.name) as { from: number; to: number });
  const started = oysterWindows.reduce(
    (n, w) =>
      n + count("SELECT COUNT(*) AS n FROM runs WHERE created_at >= ? AND created_at < ?", w.from, w.to),
    0,
  );
  const finished = oysterWindows.reduce(
    (n, w) =>
      n +
      count(
        "SELECT COUNT(*) AS n FROM runs WHERE state = 'succeeded' AND finished_at >= ? AND finished_at < ?",
        w.from,
        w.to,
      ),
    0,
  );
  const loadS = oysterWindows.reduce((s, w) => s + (w.to - w.from), 0) / 1000;
  const fs = feed.stats();
  const ss = sampler.stats();
  console.log(
    `\ndispatch during the oyster load (${loadS.toFixed(1)} s): ${started} runs launched, ${finished} succeeded (${(started / loadS).toFixed(1)}/s); feeder: ${fs.submitted} tasks submitted in all${fs.failures ? `, ${fs.failures} failed submits (${fs.lastError})` : ""}`,
  );

  const beatRows = [...sampler.beats.entries()].map(([name, b]) => [
    name,
    `${b.intervalMs} ms`,
    b.lastCycles - b.firstCycles,
    Number.isFinite(b.ageOverMs) ? b.ageOverMs.toFixed(0) : "-",
    Number.isFinite(b.gapOverMs) ? b.gapOverMs.toFixed(0) : "-",
    b.longestCycleMs.toFixed(1),
  ]);
  console.log(
    `\nloop heartbeats during the oyster load: /health read every ${SAMPLE_EVERY_MS} ms, ${ss.samples} samples${ss.failures ? `, ${ss.failures} failed` : ""}${ss.unhealthy ? `, ${ss.unhealthy} answered unhealthy` : ""}\n`,
  );
  console.log(
    formatTable(
      [
        "LOOP",
        "INTERVAL",
        "CYCLES",
        "MAX AGE − INTERVAL (ms)",
        "MAX GAP − INTERVAL (ms)",
        "LONGEST CYCLE (ms)",
      ],
      beatRows,
    ),
  );

  const checks: string[] = [];
  let ok = true;
  for (const t of targets.filter((x) => x.phase)) {
    const r = results.get(t.name) as WrkResult;
    const pass = r.p99 < TARGET_P99_MS && r.errors === 0;
    ok &&= pass;
    checks.push(
      `p99 < ${TARGET_P99_MS} ms, ${t.name}: ${ms(r.p99)} ms ${pass ? "✓" : "✗"}${r.errors ? ` (${r.errors} errors)` : ""}`,
    );
  }
  let worst = Number.NEGATIVE_INFINITY;
  let worstLoop = "";
  for (const [name, b] of sampler.beats) {
    const d = Math.max(b.ageOverMs, b.gapOverMs);
    if (d > worst) {
      worst = d;
      worstLoop = name;
    }
  }
  const beatsOk =
    sampler.beats.size === 5 && worst <= TARGET_DELAY_MS && ss.failures === 0 && ss.unhealthy === 0;
  ok &&= beatsOk;
  checks.push(
    `max heartbeat delay beyond interval: ${Number.isFinite(worst) ? worst.toFixed(0) : "?"} ms, ${worstLoop || "no loop seen"} (≤ ${TARGET_DELAY_MS} ms ${beatsOk ? "✓" : "✗"})`,
  );
  console.log(`\ntargets:\n${checks.map((c) => `  ${c}`).join("\n")}`);
  if (!ok) exitCode = 1;
} catch (err) {
  if (!interrupted) console.error(`bench/health: ${(err as Error).message}`);
  exitCode = 1;
} finally {
  await sampler?.stop().catch(() => {});
  await feed?.stop().catch(() => {});
  await stopAll();
}
process.exit(exitCode);
