#!/usr/bin/env bun
/**
 * Supervisors side by side in one run: oyster supervise, supervisord (Debian `supervisor`) and
 * PM2 (npm `pm2`), each keeping the same 3 services alive (test/supervisor/fixtures/service.ts
 * under bun, each on its own 127.0.0.1 port with GET /health and GET /pid).
 *
 *   kill -9 → healthy   SIGKILL the first service's process; time until a *new* process answers
 *                       /health 200 on its port (seen from outside, the same probe for all three).
 *                       For oyster also: until `supervise status` itself says healthy again.
 *   hung → healthy      the service stops answering /health (process alive, still stops on
 *                       SIGTERM); time until a new process answers 200. Neither peer has health
 *                       checks: one trial shows that they do not restart it.
 *   idle RSS / CPU      the supervisor's own process (PM2: its God daemon), 3 healthy services.
 *
 * oyster runs with health interval 500ms, timeout 250ms, unhealthy_threshold 3 and
 * backoff.reset_after 1s (like supervisord's startsecs and PM2's min_uptime, both 1 s), so the
 * kills, spaced 1.5 s apart, are never a crash loop for any of the three.
 * Targets (issue 6): kill → healthy no slower than PM2; hung → healthy ≤ 3 × 0.5 s + 1 s;
 * idle RSS below PM2's daemon.
 *   bun bench/supervise.ts [--n 10] [--idle 10]
 * Builds nothing: run `bun scripts/build-binary.ts` first (or set OYSTER_TEST_BIN). Peers that
 * are not installed are skipped (`apt-get install supervisor`, `npm i -g pm2`).
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Subprocess, spawn, spawnSync } from "bun";
import { formatTable } from "../src/cli/table.ts";
import { fetchSupervisorStatus } from "../src/supervisor/client.ts";
import { OYSTER_BIN, tempDir } from "../test/helpers/cli.ts";
import {
  BUN,
  cleanEnv,
  freePort,
  killAll,
  processesMentioning,
  SERVICE_SCRIPT,
} from "../test/supervisor/helpers.ts";

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const N = arg("n", 10);
const IDLE_S = arg("idle", 10);
/** Between two kills: past every supervisor's "started successfully" window (1 s). */
const GAP_MS = 1_500;
/** How long a peer gets to restart a hung service on its own. */
const HUNG_WAIT_MS = 8_000;
const INTERVAL_MS = 500;
const THRESHOLD = 3;
const HUNG_TARGET_MS = THRESHOLD * INTERVAL_MS + 1_000;
const NAMES = ["a", "b", "c"];
const CLK_TCK = Number(spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

interface Svc {
  name: string;
  port: number;
  hangFile: string;
}

interface Peer {
  name: string;
  /** Start supervising svcs; resolves once all answer /health 200. */
  start(dir: string, svcs: Svc[]): Promise<void>;
  /** The supervisor process whose RSS/CPU counts. */
  pid(): number;
  /** Healthy in the supervisor's own view (oyster only). */
  ownHealthy?(svc: Svc, oldPid: number): Promise<boolean>;
  stop(): Promise<void>;
}

interface Result {
  kill: number[];
  killOwn: number[];
  hung: number[];
  /** A peer that does not restart a hung service: how long we waited. */
  hungNever: number | null;
  rssMb: number;
  cpuPct: number;
}

// ---------- probes ----------

async function get(port: number, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  try {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, {
      signal: AbortSignal.timeout(timeoutMs),
      keepalive: false,
    });
    return { status: r.status, body: await r.text() };
  } catch {
    return { status: 0, body: "" };
  }
}

async function pidOf(port: number): Promise<number | null> {
  const r = await get(port, "/pid", 500);
  return r.status === 200 ? Number(r.body) || null : null;
}

/** Until a process other than oldPid answers /health 200 on port; ms since t0, or null. */
async function newHealthy(port: number, oldPid: number, t0: number, limitMs: number): Promise<number | null> {
  while (performance.now() - t0 < limitMs) {
    const p = await get(port, "/pid", 200);
    if (p.status === 200 && Number(p.body) !== oldPid) {
      const h = await get(port, "/health", 200);
      if (h.status === 200) return performance.now() - t0;
    }
    await Bun.sleep(2);
  }
  return null;
}

async function allHealthy(svcs: Svc[], limitMs = 30_000): Promise<void> {
  const t0 = performance.now();
  for (const s of svcs)
    while ((await get(s.port, "/health", 500)).status !== 200) {
      if (performance.now() - t0 > limitMs) throw new Error(`service ${s.name} never became healthy`);
      await Bun.sleep(50);
    }
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime
}

// ---------- the three supervisors ----------

function pipeQuietly(proc: Subprocess<"ignore", "pipe", "pipe">): () => string {
  let out = "";
  for (const s of [proc.stdout, proc.stderr])
    void (async () => {
      for await (const c of s) out = (out + Buffer.from(c).toString()).slice(-8_000);
    })();
  return () => out;
}

function oysterPeer(): Peer {
  let proc: Subprocess<"ignore", "pipe", "pipe"> | null = null;
  let stateDir = "";
  return {
    name: "oyster supervise",
    async start(dir, svcs) {
      stateDir = join(dir, ".oyster");
      const yaml = `services:\n${svcs
        .map(
          (s) => `  - name: ${s.name}
    command: [${JSON.stringify(BUN)}, ${JSON.stringify(SERVICE_SCRIPT)}]
    env: ${JSON.stringify({ PORT: String(s.port), HANG_FILE: s.hangFile })}
    health: { port: ${s.port}, interval: ${INTERVAL_MS}ms, timeout: 250ms, unhealthy_threshold: ${THRESHOLD} }
    backoff: { reset_after: 1s }
    stop_timeout: 5s
`,
        )
        .join("")}`;
      writeFileSync(join(dir, "oyster.yaml"), yaml);
      proc = await spawnUntilHealthy([OYSTER_BIN, "supervise", "--log-format", "json"], dir, svcs);
    },
    pid: () => proc?.pid ?? 0,
    async ownHealthy(svc, oldPid) {
      const list = await fetchSupervisorStatus(stateDir).catch(() => null);
      const s = list?.find((x) => x.name === svc.name);
      return !!s && s.pid !== null && s.pid !== oldPid && s.health === "healthy";
    },
    async stop() {
      if (!proc) return;
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

/** Start a supervisor and wait until every service answers; its output only on failure. */
async function spawnUntilHealthy(argv: string[], dir: string, svcs: Svc[]) {
  const proc = spawn(argv, { cwd: dir, env: cleanEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const out = pipeQuietly(proc);
  await allHealthy(svcs).catch((e) => {
    proc.kill("SIGKILL");
    throw new Error(`${(e as Error).message}\n${out()}`);
  });
  return proc;
}

function supervisordPeer(bin: string): Peer {
  let proc: Subprocess<"ignore", "pipe", "pipe"> | null = null;
  return {
    name: "supervisord",
    async start(dir, svcs) {
      const conf = [
        "[supervisord]",
        "nodaemon=true",
        `logfile=${dir}/supervisord.log`,
        `pidfile=${dir}/supervisord.pid`,
        `childlogdir=${dir}`,
        "user=root",
        "",
        ...svcs.flatMap((s) => [
          `[program:${s.name}]`,
          `command=${BUN} ${SERVICE_SCRIPT}`,
          `environment=PORT="${s.port}",HANG_FILE="${s.hangFile}"`,
          "autostart=true",
          "autorestart=true",
          "startsecs=1",
          "stopasgroup=true",
          "killasgroup=true",
          "redirect_stderr=true",
          `stdout_logfile=${dir}/${s.name}.log`,
          "",
        ]),
      ].join("\n");
      writeFileSync(join(dir, "supervisord.conf"), conf);
      proc = await spawnUntilHealthy([bin, "-c", join(dir, "supervisord.conf")], dir, svcs);
    },
    pid: () => proc?.pid ?? 0,
    async stop() {
      if (!proc) return;
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

function pm2Peer(bin: string): Peer {
  let home = "";
  const pm2 = (args: string[]) => {
    const r = spawnSync([bin, ...args], {
      env: cleanEnv({ PM2_HOME: home }),
      stdout: "pipe",
      stderr: "pipe",
    });
    if (r.exitCode !== 0)
      throw new Error(`pm2 ${args.join(" ")}: ${r.stderr.toString()}${r.stdout.toString()}`);
  };
  return {
    name: "PM2",
    async start(dir, svcs) {
      home = join(dir, "pm2-home");
      const eco = {
        apps: svcs.map((s) => ({
          name: s.name,
          script: SERVICE_SCRIPT,
          interpreter: BUN,
          env: { PORT: String(s.port), HANG_FILE: s.hangFile },
          autorestart: true,
        })),
      };
      writeFileSync(join(dir, "ecosystem.json"), JSON.stringify(eco, null, 2));
      pm2(["start", join(dir, "ecosystem.json")]);
      await allHealthy(svcs);
    },
    pid: () => Number(readFileSync(join(home, "pm2.pid"), "utf8").trim()),
    async stop() {
      if (home) pm2(["kill"]);
    },
  };
}

// ---------- one run ----------

async function measure(peer: Peer): Promise<Result> {
  const t = tempDir("oyster-bench-sup-");
  const svcs: Svc[] = NAMES.map((name) => ({
    name,
    port: freePort(),
    hangFile: join(t.path, `${name}.hang`),
  }));
  const target = svcs[0] as Svc;
  const res: Result = { kill: [], killOwn: [], hung: [], hungNever: null, rssMb: 0, cpuPct: 0 };
  try {
    await peer.start(t.path, svcs);

    // Idle: settle, then the supervisor's own RSS and CPU over IDLE_S seconds.
    await Bun.sleep(3_000);
    const pid = peer.pid();
    const c0 = cpuTicks(pid);
    const w0 = performance.now();
    await Bun.sleep(IDLE_S * 1_000);
    res.cpuPct = ((cpuTicks(pid) - c0) / CLK_TCK / ((performance.now() - w0) / 1_000)) * 100;
    res.rssMb = rssMb(pid);

    // kill -9 → healthy again.
    for (let k = 0; k < N; k++) {
      const old = await pidOf(target.port);
      if (!old) throw new Error(`${peer.name}: no pid on ${target.port}`);
      const t0 = performance.now();
      process.kill(old, "SIGKILL");
      const own = peer.ownHealthy
        ? (async () => {
            while (performance.now() - t0 < 10_000) {
              if (await peer.ownHealthy?.(target, old)) return performance.now() - t0;
              await Bun.sleep(5);
            }
            return null;
          })()
        : Promise.resolve(null);
      const ms = await newHealthy(target.port, old, t0, 10_000);
      if (ms === null) throw new Error(`${peer.name}: not healthy again 10 s after kill -9`);
      res.kill.push(ms);
      const o = await own;
      if (o !== null) res.killOwn.push(o);
      await Bun.sleep(GAP_MS);
    }

    // Hung → healthy again.
    const trials = peer.ownHealthy ? N : 1;
    for (let k = 0; k < trials; k++) {
      const old = await pidOf(target.port);
      if (!old) throw new Error(`${peer.name}: no pid on ${target.port}`);
      const t0 = performance.now();
      writeFileSync(target.hangFile, String(old));
      const ms = await newHealthy(target.port, old, t0, peer.ownHealthy ? 15_000 : HUNG_WAIT_MS);
      rmSync(target.hangFile, { force: true });
      if (ms === null) {
        res.hungNever = HUNG_WAIT_MS;
        break;
      }
      res.hung.push(ms);
      await Bun.sleep(GAP_MS);
    }
  } finally {
    await peer.stop().catch((e) => console.error(`${peer.name}: stop: ${(e as Error).message}`));
    await Bun.sleep(300);
    killAll(processesMentioning(t.path));
    t.cleanup();
  }
  return res;
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => {
  const s = sorted(xs);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
/** Nearest-rank p95 (the maximum for n ≤ 20). */
const p95 = (xs: number[]) => sorted(xs)[Math.ceil(0.95 * xs.length) - 1] as number;

const peers: Peer[] = [oysterPeer()];
const skipped: string[] = [];
const supervisord = Bun.which("supervisord");
if (supervisord) peers.push(supervisordPeer(supervisord));
else skipped.push("supervisord (apt-get install supervisor)");
const pm2 = Bun.which("pm2");
if (pm2) peers.push(pm2Peer(pm2));
else skipped.push("PM2 (npm i -g pm2)");

const results = new Map<string, Result>();
for (const p of peers) {
  process.stderr.write(`measuring ${p.name} …\n`);
  results.set(p.name, await measure(p));
}

const ours = results.get("oyster supervise") as Result;
const fmt = (ms: number | undefined) => (ms === undefined || Number.isNaN(ms) ? "-" : ms.toFixed(0));
type Metric = { label: string; value: (r: Result) => number | string | undefined; ratio: boolean };
const metrics: Metric[] = [
  { label: "kill -9 → healthy, median (ms)", value: (r) => median(r.kill), ratio: true },
  { label: "kill -9 → healthy, p95 (ms)", value: (r) => p95(r.kill), ratio: true },
  {
    label: "kill -9 → own status healthy, median (ms)",
    value: (r) => (r.killOwn.length ? median(r.killOwn) : "-"),
    ratio: false,
  },
  {
    label: "hung → healthy, median (ms)",
    value: (r) => (r.hungNever ? `never (${r.hungNever / 1000} s)` : median(r.hung)),
    ratio: false,
  },
  {
    label: "hung → healthy, p95 (ms)",
    value: (r) => (r.hungNever ? "-" : p95(r.hung)),
    ratio: false,
  },
  { label: "idle RSS, 3 services (MB)", value: (r) => r.rssMb, ratio: true },
  { label: "idle CPU (% of a core)", value: (r) => r.cpuPct, ratio: false },
];
const cell = (v: number | string | undefined, digits = 0) =>
  typeof v === "number" ? (digits ? v.toFixed(digits) : fmt(v)) : (v ?? "-");
const others = peers.slice(1).map((p) => p.name);
const rows = metrics.map((m) => {
  const digits = m.label.startsWith("idle") ? 1 : 0;
  const base = m.value(ours);
  return [
    m.label,
    ...peers.map((p) => cell(m.value(results.get(p.name) as Result), digits)),
    ...others.map((n) => {
      const v = m.value(results.get(n) as Result);
      return m.ratio && typeof v === "number" && typeof base === "number" && base > 0
        ? `${(v / base).toFixed(1)}×`
        : "";
    }),
  ];
});

console.log(
  `\nsupervisors: 3 bun services, n=${N} per latency, idle window ${IDLE_S} s, binary ${OYSTER_BIN}\n`,
);
console.log(
  formatTable(["METRIC", ...peers.map((p) => p.name), ...others.map((n) => `${n} ÷ oyster`)], rows),
);
if (skipped.length) console.log(`\nskipped (not installed): ${skipped.join(", ")}`);

const checks: string[] = [];
const pm2r = results.get("PM2");
if (pm2r) {
  checks.push(
    `kill → healthy no slower than PM2: ${median(ours.kill) <= median(pm2r.kill) ? "yes" : "NO"} (${fmt(median(ours.kill))} vs ${fmt(median(pm2r.kill))} ms)`,
  );
  checks.push(
    `idle RSS below PM2's daemon: ${ours.rssMb < pm2r.rssMb ? "yes" : "NO"} (${ours.rssMb.toFixed(1)} vs ${pm2r.rssMb.toFixed(1)} MB)`,
  );
}
checks.push(
  `hung → healthy ≤ ${THRESHOLD} × ${INTERVAL_MS} ms + 1 s = ${HUNG_TARGET_MS} ms: ${ours.hung.length && p95(ours.hung) <= HUNG_TARGET_MS ? "yes" : "NO"} (p95 ${fmt(ours.hung.length ? p95(ours.hung) : undefined)} ms)`,
);
console.log(`\ntargets (issue 6):\n${checks.map((c) => `  ${c}`).join("\n")}`);
