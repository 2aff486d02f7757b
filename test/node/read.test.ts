import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_READ_BYTES, pruneRuns, readOutput } from "../../src/node/read.ts";
import { tempDir } from "../helpers/cli.ts";

const dirs: { cleanup: () => void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});

function home(): string {
  const d = tempDir("oyster-read-");
  dirs.push(d);
  return d.path;
}

function run(h: string, id: string, output: string | null, state = "failed", finishedAt = 1_000, pid = 0) {
  const dir = join(h, "runs", id);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (output !== null) writeFileSync(join(dir, "output.log"), output);
  const status = {
    run_id: id,
    task_id: "t",
    pid: null,
    wrapper_pid: pid || null,
    state,
    started_at: finishedAt - 10,
    heartbeat_at: finishedAt,
    finished_at: state === "running" ? null : finishedAt,
    exit_code: state === "running" ? null : 1,
    wrapper_version: "test",
  };
  writeFileSync(join(dir, "status.json"), JSON.stringify(status));
  return dir;
}

const text = (c: { data: string }) => Buffer.from(c.data, "base64").toString();

describe("readOutput", () => {
  test("reads a range at an offset and reports the size and the run's status", () => {
    const h = home();
    run(h, "r1", "0123456789");
    const c = readOutput(h, { run_id: "r1", offset: 3, limit: 4 });
    expect([c.offset, c.size, text(c), c.status?.state]).toEqual([3, 10, "3456", "failed"]);
    expect(text(readOutput(h, { run_id: "r1", offset: 50 }))).toBe("");
  });

  test("never returns more than MAX_READ_BYTES", () => {
    const h = home();
    run(h, "big", "x".repeat(MAX_READ_BYTES + 10));
    const c = readOutput(h, { run_id: "big", limit: 10 * MAX_READ_BYTES });
    expect(Buffer.from(c.data, "base64").length).toBe(MAX_READ_BYTES);
  });

  test("tail_lines starts at the last N lines, with or without a final newline", () => {
    const h = home();
    run(h, "a", "one\ntwo\nthree\n");
    run(h, "b", "one\ntwo\nthree");
    expect(text(readOutput(h, { run_id: "a", tail_lines: 2 }))).toBe("two\nthree\n");
    expect(text(readOutput(h, { run_id: "b", tail_lines: 2 }))).toBe("two\nthree");
    expect(text(readOutput(h, { run_id: "a", tail_lines: 10 }))).toBe("one\ntwo\nthree\n");
    expect(text(readOutput(h, { run_id: "a", tail_lines: 0 }))).toBe("");
  });

  test("a run without output yet exists; an unknown run does not", () => {
    const h = home();
    run(h, "early", null, "running");
    expect(readOutput(h, { run_id: "early" }).exists).toBe(true);
    expect(readOutput(h, { run_id: "nope" }).exists).toBe(false);
  });

  test("a symlink planted at output.log is not followed, and run ids cannot climb out", () => {
    const h = home();
    const dir = run(h, "evil", null);
    writeFileSync(join(h, "secret"), "secret");
    symlinkSync(join(h, "secret"), join(dir, "output.log"));
    expect(() => readOutput(h, { run_id: "evil" })).toThrow(/symlink/);
    expect(() => readOutput(h, { run_id: "../x" })).toThrow(/invalid run id/);
  });
});

describe("pruneRuns", () => {
  test("removes named final runs, keeps one the node sees running, counts missing ones", () => {
    const h = home();
    run(h, "done1", "x");
    run(h, "live", "x", "running", 1_000, process.pid);
    run(h, "other", "x");
    const r = pruneRuns(h, { runs: ["done1", "live", "gone"] });
    expect(r.removed).toEqual(["done1"]);
    expect(r.kept).toEqual([{ run_id: "live", why: "the node sees it running" }]);
    expect(r.missing).toBe(1);
    expect(existsSync(join(h, "runs", "live"))).toBe(true);
    expect(existsSync(join(h, "runs", "other"))).toBe(true);
  });

  test("older_than_ms OR beyond the newest keep, by the node's finished_at", () => {
    const h = home();
    for (let i = 1; i <= 5; i++) run(h, `r${i}`, "x", "succeeded", i * 1_000);
    const r = pruneRuns(h, { runs: ["r1", "r2", "r3", "r4", "r5"], older_than_ms: 3_500, keep: 3 }, 5_000);
    // r1 is older than 3.5 s; r1 and r2 are beyond the newest 3.
    expect(r.removed.sort()).toEqual(["r1", "r2"]);
  });
});
