#!/usr/bin/env bun
/**
 * /health latency while one request asks a lot of the controller (issue 10.3): the built
 * binary's `oyster run`, /health polled back to back while each POST /api/tasks is in flight.
 * Target: p99 < 50 ms in every row.
 *   bun bench/intake.ts
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatTable } from "../src/cli/table.ts";
import { SPEC_LIMITS } from "../src/spec/limits.ts";
import { cleanEnv, OYSTER_BIN, oyster, tempDir, waitFor } from "../test/helpers/cli.ts";

const TARGET_P99_MS = 50;
const TOKEN = "bench-token";
const spec = (id: string, body: string) =>
  `---\ntask_id: ${id}\ndepends_on: [gate]\ncommand: "true"\n---\n${body}\n`;
const batch = (texts: string[]) =>
  JSON.stringify({ specs: texts.map((text, i) => ({ source: `s${i}.md`, text })), allow_missing_deps: true });
const keys = (n: number) => Array.from({ length: n }, (_, i) => `k${i}: ${i}\n`).join("");

const dir = tempDir("oyster-bench-intake-");
writeFileSync(
  join(dir.path, "oyster.yaml"),
  [
    "store: ./o.db",
    // A port of its own: until the controller has written its URL, `oyster status` asks http.port.
    `http: { port: 0, token: ${TOKEN} }`,
    "nodes: [{ name: local, transport: local, slots: 2, oyster_home: ./node-home }]",
    "loops: { scheduler: { interval: 100ms }, reaper: { interval: 200ms } }",
    "",
  ].join("\n"),
);
const proc = Bun.spawn([OYSTER_BIN, "run", "--port", "0"], {
  cwd: dir.path,
  stdout: "ignore",
  stderr: "ignore",
  env: cleanEnv({ NO_COLOR: "1" }),
});

interface Row {
  scenario: string;
  bytes: number;
  status: number;
  postMs: number;
  n: number;
  p50: number;
  p99: number;
  max: number;
}

/**
 * The POST comes from curl, another process: sent from this one, encoding and writing 7 MB would
 * stall the same event loop that times /health, and the stall would be charged to the controller.
 */
async function postWithCurl(url: string, body: string, type: string): Promise<number> {
  const file = join(dir.path, "body");
  writeFileSync(file, body);
  const p = Bun.spawn(
    [
      "curl",
      "-sS",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-H",
      `authorization: Bearer ${TOKEN}`,
      "-H",
      `content-type: ${type}`,
      "--data-binary",
      `@${file}`,
      `${url}/api/tasks`,
    ],
    { stdout: "pipe", stderr: "inherit" },
  );
  const code = Number(await new Response(p.stdout).text());
  await p.exited;
  return code;
}

async function measure(
  url: string,
  scenario: string,
  body: string | null,
  type = "application/json",
): Promise<Row> {
  const lat: number[] = [];
  let done = false;
  const poll = (async () => {
    while (!done) {
      const t0 = performance.now();
      await (await fetch(`${url}/health`)).text();
      lat.push(performance.now() - t0);
    }
  })();
  const t0 = performance.now();
  const status = body === null ? await Bun.sleep(1_000).then(() => 0) : await postWithCurl(url, body, type);
  const postMs = performance.now() - t0;
  done = true;
  await poll;
  lat.sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((lat.length * p) / 100))] ?? Number.NaN;
  return {
    scenario,
    bytes: body?.length ?? 0,
    status,
    postMs,
    n: lat.length,
    p50: pct(50),
    p99: pct(99),
    max: lat.at(-1) ?? Number.NaN,
  };
}

try {
  const url = await waitFor(
    "the controller's URL",
    () => {
      const r = oyster(["status", "--json"], { cwd: dir.path });
      if (r.code !== 0) return null;
      const s = JSON.parse(r.stdout) as { controller: { up: boolean; url: string } };
      return s.controller.up ? s.controller.url : null;
    },
    { timeoutMs: 20_000 },
  );
  const N = SPEC_LIMITS.specsPerBatch;
  // As large as a batch may be: the count limit, and just under the 8 MiB request body.
  const prompt = (i: number) => `line of the prompt ${i}\n`.repeat(300);
  const rows: Row[] = [];
  rows.push(await measure(url, "idle (1 s)", null));
  rows.push(
    await measure(
      url,
      `${N} specs, largest allowed`,
      batch(Array.from({ length: N }, (_, i) => spec(`a${i}`, prompt(i)))),
    ),
  );
  rows.push(
    await measure(
      url,
      `${N} small specs`,
      batch(Array.from({ length: N }, (_, i) => spec(`c${i}`, "short prompt"))),
    ),
  );
  rows.push(
    await measure(
      url,
      "60,000 tiny specs (refused)",
      batch(Array.from({ length: 60_000 }, (_, i) => spec(`b${i}`, ""))),
    ),
  );
  rows.push(
    await measure(
      url,
      "1 spec, 40k keys (refused)",
      `---\ntask_id: k\n${keys(40_000)}---\nbody\n`,
      "text/markdown",
    ),
  );
  rows.push(
    await measure(
      url,
      "1 spec, 100 keys at 64 KiB",
      `---\ntask_id: wide\ncommand: "true"\n${Array.from({ length: 98 }, (_, i) => `k${i}: ${"v".repeat(600)}\n`).join("")}---\nbody\n`,
      "text/markdown",
    ),
  );
  const ms = (v: number) => v.toFixed(1);
  console.log(
    formatTable(
      [
        "SCENARIO",
        "BODY",
        "POST",
        "POST MS",
        "/health N",
        "P50 MS",
        "P99 MS",
        "MAX MS",
        `P99 < ${TARGET_P99_MS}`,
      ],
      rows.map((r) => [
        r.scenario,
        r.bytes ? `${(r.bytes / 1e6).toFixed(2)} MB` : "-",
        r.status || "-",
        r.status ? Math.round(r.postMs) : "-",
        r.n,
        ms(r.p50),
        ms(r.p99),
        ms(r.max),
        r.p99 < TARGET_P99_MS ? "ok" : "MISSED",
      ]),
    ),
  );
} finally {
  proc.kill("SIGTERM");
  await proc.exited;
  dir.cleanup();
}
