#!/usr/bin/env bun
import { Database } from "bun:sqlite";
/**
 * `oyster logs -f` of a task writing 50 MB (issue 13.1), side by side with `ssh node tail -f` of
 * the same output.log and with the controller's `GET /api/tasks/ID/logs?follow=1`, all three
 * following the same run at once. For each: bytes delivered against bytes written, latency from
 * write to arrival (every line carries the time it was written), and the RSS growth of the
 * process that does the work (the CLI for `logs -f`, the controller for the API, the ssh client),
 * from its first bytes on.
 * Real OpenSSH sshd on 127.0.0.9 with the built binary (`npx bun scripts/build-binary.ts` first).
 *   bun bench/logs.ts [--mb 50] [--seconds 10]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { formatTable } from "../src/cli/table.ts";
import { OYSTER_BIN, oyster, tempDir, waitFor } from "../test/helpers/cli.ts";
import { startSshNode } from "../test/helpers/sshd.ts";

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const MB = arg("mb", 50);
const SECONDS = arg("seconds", 10);
const LINE = 1024;
const LINES = Math.floor((MB * 1024 * 1024) / LINE);
const TOTAL = LINES * LINE;

const dir = tempDir("oyster-bench-logs-");
const node = await startSshNode({ address: "127.0.0.9", name: "bench" });
let controller: Subprocess | null = null;
const kids: Subprocess[] = [];

const rssKb = (pid: number) => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
};

/** Reads a follower's stdout: bytes, and per line the delay since the writer stamped it. */
interface Follower {
  name: string;
  bytes: number;
  latencies: number[];
  /** Which process's RSS counts, and its first and highest samples. */
  pid: () => number;
  rssStart: number;
  rssPeak: number;
  done: Promise<void>;
}

function follow(name: string, stream: ReadableStream<Uint8Array>, pid: () => number): Follower {
  const f: Follower = {
    name,
    bytes: 0,
    latencies: [],
    pid,
    rssStart: 0,
    rssPeak: 0,
    done: Promise.resolve(),
  };
  f.done = (async () => {
    const reader = stream.getReader();
    let rest = "";
    const dec = new TextDecoder();
    while (f.bytes < TOTAL) {
      const { done, value } = await reader.read();
      if (done) break;
      const now = Date.now();
      // The baseline is taken once the follower is up and has its first bytes (startup excluded).
      if (f.bytes === 0) f.rssStart = f.rssPeak = rssKb(f.pid());
      f.bytes += value.length;
      const text = rest + dec.decode(value, { stream: true });
      const lines = text.split("\n");
      rest = lines.pop() ?? "";
      for (const l of lines) {
        const ts = Number(l.slice(0, l.indexOf(" ")));
        if (Number.isFinite(ts) && ts > 0) f.latencies.push(now - ts);
      }
    }
    reader.releaseLock();
  })();
  return f;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(s.length * p))]! : Number.NaN;
};

try {
  const writer = join(dir.path, "writer.py");
  // Lines of exactly LINE bytes, each starting with the epoch ms it was written at, spread evenly
  // over SECONDS so latency means "time to show a line", not "time to drain a backlog".
  writeFileSync(
    writer,
    [
      "import sys, time",
      `lines, width, seconds = ${LINES}, ${LINE}, ${SECONDS}`,
      "out = sys.stdout",
      "t0 = time.time()",
      "for i in range(lines):",
      "    due = t0 + seconds * i / lines",
      "    d = due - time.time()",
      "    if d > 0: time.sleep(d)",
      "    head = '%d %d ' % (int(time.time() * 1000), i)",
      "    out.write(head + 'x' * (width - len(head) - 1) + '\\n')",
      "    if i % 8 == 0: out.flush()",
      "out.flush()",
    ].join("\n"),
  );
  writeFileSync(
    join(dir.path, "oyster.yaml"),
    [
      "store: ./o.db",
      "http: { port: 0 }",
      "loops: { scheduler: { interval: 100ms }, probe: { interval: 1s }, reaper: { interval: 2s } }",
      "retry: { max_attempts: 1 }",
      "nodes:",
      `  - ${JSON.stringify(node.nodeConfig({ slots: 2 }))}`,
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(dir.path, "writer.md"),
    `---\ntask_id: writer\ncommand: ${JSON.stringify(`python3 ${writer}`)}\n---\nbench\n`,
  );
  controller = Bun.spawn([OYSTER_BIN, "run"], { cwd: dir.path, stdout: "ignore", stderr: "ignore" });
  const q = <T>(sql: string) => {
    const d = new Database(join(dir.path, "o.db"), { readonly: true });
    try {
      return d.query(sql).get() as T | null;
    } finally {
      d.close();
    }
  };
  await waitFor(
    "controller up",
    () => q<{ value: string }>("SELECT value FROM settings WHERE key = 'http_url'"),
    {
      timeoutMs: 20_000,
    },
  );
  const url = q<{ value: string }>("SELECT value FROM settings WHERE key = 'http_url'")!.value;
  if (oyster(["submit", "writer.md"], { cwd: dir.path }).code !== 0) throw new Error("submit failed");
  const run = await waitFor(
    "writer running",
    () =>
      q<{ run_id: string; state: string }>(
        "SELECT run_id, state FROM runs WHERE task_id = 'writer' AND state = 'running'",
      ),
    { timeoutMs: 30_000, intervalMs: 20 },
  );

  const cli = Bun.spawn([OYSTER_BIN, "logs", "writer", "-f"], {
    cwd: dir.path,
    stdout: "pipe",
    stderr: "ignore",
  });
  kids.push(cli);
  const output = `${node.home}/runs/${run.run_id}/output.log`;
  const ssh = Bun.spawn(
    [
      "ssh",
      "-i",
      node.keyPath,
      "-p",
      String(node.port),
      "-o",
      `UserKnownHostsFile=${node.known_hosts}`,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "BatchMode=yes",
      `${process.env.USER || "root"}@${node.host}`,
      `tail -c +1 -F ${output}`,
    ],
    { stdout: "pipe", stderr: "ignore" },
  );
  kids.push(ssh);
  const api = await fetch(`${url}/api/tasks/writer/logs?follow=1`);
  const followers = [
    follow("oyster logs -f (CLI RSS)", cli.stdout, () => cli.pid),
    follow("GET /api/…/logs?follow=1 (controller RSS)", api.body!, () => controller!.pid),
    follow("ssh node tail -F (ssh client RSS)", ssh.stdout, () => ssh.pid),
  ];
  const sampler = setInterval(() => {
    for (const f of followers) f.rssPeak = Math.max(f.rssPeak, rssKb(f.pid()));
  }, 25);
  const t0 = performance.now();
  await Promise.race([Promise.all(followers.map((f) => f.done)), Bun.sleep(SECONDS * 1000 + 120_000)]);
  clearInterval(sampler);
  const cliExit = await Promise.race([cli.exited, Bun.sleep(10_000).then(() => "still running")]);
  ssh.kill("SIGTERM");
  const rows = followers.map((f) => [
    f.name,
    `${f.bytes}/${TOTAL}${f.bytes === TOTAL ? " ✓" : " ✗"}`,
    pct(f.latencies, 0.5).toFixed(0),
    pct(f.latencies, 0.99).toFixed(0),
    `${(f.rssStart / 1024).toFixed(0)} → ${(f.rssPeak / 1024).toFixed(0)} (+${((f.rssPeak - f.rssStart) / 1024).toFixed(1)})`,
  ]);
  console.log(
    `${MB} MB in ${LINES} lines of ${LINE} B over ${SECONDS} s; all followers done in ${((performance.now() - t0) / 1000).toFixed(1)} s; oyster logs -f exited ${cliExit}`,
  );
  console.log(formatTable(["FOLLOWER", "BYTES", "P50 MS", "P99 MS", "RSS MB"], rows));
} finally {
  for (const k of kids) k.kill("SIGKILL");
  if (controller) {
    controller.kill("SIGTERM");
    await Promise.race([controller.exited, Bun.sleep(10_000)]);
  }
  await node.destroy();
  dir.cleanup();
}
