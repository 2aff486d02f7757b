#!/usr/bin/env bun
/**
 * Submit one full batch (SPEC_LIMITS.specsPerBatch generated specs, a random DAG) through the
 * built binary: wall time and peak memory of the `oyster submit` process. Targets: < 3 s, < 200 MB.
 *   bun bench/submit.ts [--tasks 1000]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SPEC_LIMITS } from "../src/spec/limits.ts";
import { OYSTER_BIN, tempDir } from "../test/helpers/cli.ts";

const i = process.argv.indexOf("--tasks");
const N = i >= 0 ? Number(process.argv[i + 1]) : SPEC_LIMITS.specsPerBatch;
const dir = tempDir("oyster-bench-submit-");
try {
  const specs = join(dir.path, "specs");
  mkdirSync(specs);
  let edges = 0;
  for (let t = 0; t < N; t++) {
    const deps = new Set<string>();
    const k = t === 0 ? 0 : Math.floor(Math.random() * 3);
    for (let j = 0; j < k; j++) deps.add(`b${Math.floor(Math.random() * t)}`);
    edges += deps.size;
    writeFileSync(
      join(specs, `b${t}.md`),
      `---\ntask_id: b${t}\nproject: bench\npriority: ${t % 10}\ndepends_on: ${JSON.stringify([...deps])}\nmodifies: ["src/f${t % 300}.ts"]\ncommand: "true"\n---\nGenerated spec ${t}.\n`,
    );
  }
  const timeBin = Bun.which("time") ?? "/usr/bin/time";
  const useTime = await Bun.file(timeBin).exists();
  // GNU time's report goes to a file: written to the stderr pipe it sometimes came back cut,
  // with time exiting 1 though the command exited 0.
  const report = join(dir.path, "time.txt");
  const argv = useTime
    ? [timeBin, "-o", report, "-v", OYSTER_BIN, "submit", specs, "--quiet"]
    : [OYSTER_BIN, "submit", specs, "--quiet"];
  const t0 = performance.now();
  const p = Bun.spawnSync(argv, { cwd: dir.path, stdout: "ignore", stderr: "pipe" });
  const sec = (performance.now() - t0) / 1000;
  const err = p.stderr.toString();
  if (p.exitCode !== 0) throw new Error(`submit failed (${p.exitCode}): ${err.slice(0, 2000)}`);
  const timed = useTime ? await Bun.file(report).text() : "";
  const kb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(timed)?.[1] ?? Number.NaN);
  const mb = kb / 1024;
  console.log(`${N} specs, ${edges} dependency edges\n`);
  console.log("figure                 value      target");
  console.log(`wall time              ${sec.toFixed(2).padStart(6)} s   < 3 s ${sec < 3 ? "ok" : "MISSED"}`);
  console.log(
    `peak RSS               ${Number.isNaN(mb) ? "   n/a" : mb.toFixed(0).padStart(6)} MB  < 200 MB ${Number.isNaN(mb) ? "(install GNU time)" : mb < 200 ? "ok" : "MISSED"}`,
  );
} finally {
  dir.cleanup();
}
