import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { intake } from "../../src/spec/intake.ts";
import { checkBatchLimits, jsonSpecCountOver, SPEC_LIMITS } from "../../src/spec/limits.ts";
import { parseFrontMatter, parseSpecText } from "../../src/spec/parse.ts";
import { openStore } from "../../src/store/db.ts";
import { tempDir } from "../helpers/cli.ts";
import { memoryStore } from "../helpers/store.ts";

const keys = (n: number) => Array.from({ length: n }, (_, i) => `k${i}: ${i}`).join("\n");
const spec = (id: string) => `---\ntask_id: ${id}\ncommand: "true"\n---\nbody\n`;
const opts = { executors: { shell: { command: ["sh", "-c", "{command}"] } }, defaultMaxAttempts: 3 };

describe("batch limits, on sizes alone", () => {
  test("a batch at the limits passes; one spec, one byte or one more spec over names the limit", () => {
    const at = Array.from({ length: SPEC_LIMITS.specsPerBatch }, (_, i) => ({ source: `s${i}`, bytes: 10 }));
    expect(checkBatchLimits(at)).toEqual([]);
    expect(checkBatchLimits([...at, { source: "x", bytes: 1 }]).map((p) => p.limit)).toEqual([
      "specsPerBatch",
    ]);
    const big = checkBatchLimits([{ source: "huge.md", bytes: SPEC_LIMITS.specBytes + 1 }]);
    expect(big).toEqual([
      expect.objectContaining({
        source: "huge.md",
        limit: "specBytes",
        message: expect.stringContaining("at most 1048576"),
      }),
    ]);
    const total = checkBatchLimits(
      Array.from({ length: 9 }, (_, i) => ({ source: `s${i}`, bytes: SPEC_LIMITS.specBytes })),
    );
    expect(total.map((p) => p.limit)).toEqual(["batchBytes"]);
  });

  test("the JSON pre-scan never undercounts, and escaped quotes inside a spec do not count", () => {
    const body = (n: number, text = "x") =>
      JSON.stringify({ specs: Array.from({ length: n }, () => ({ source: "a", text })) });
    expect(jsonSpecCountOver(body(SPEC_LIMITS.specsPerBatch))).toBeNull();
    expect(jsonSpecCountOver(body(SPEC_LIMITS.specsPerBatch + 1))?.message).toContain("too many specs");
    expect(jsonSpecCountOver(body(10, '"text" "text" "text"'.repeat(200)))).toBeNull();
  });
});

describe("front matter is parsed in linear time", () => {
  test("more than 100 keys, nested ones included, is refused naming the limit", () => {
    expect(parseFrontMatter(keys(100))).toEqual({ value: expect.any(Object) });
    expect(parseFrontMatter(keys(101))).toEqual({ problem: expect.stringContaining("more than 100") });
    const nested = `task_id: n\nextra:\n${Array.from({ length: 100 }, (_, i) => `  n${i}: ${i}`).join("\n")}`;
    expect(parseFrontMatter(nested)).toEqual({ problem: expect.stringContaining("too many keys") });
  });

  test("duplicate keys are still refused, at any depth", () => {
    expect(parseFrontMatter("task_id: a\ntask_id: b")).toEqual({
      problem: expect.stringContaining("unique"),
    });
    expect(parseFrontMatter("task_id: a\nx: { y: 1, y: 2 }")).toEqual({
      problem: expect.stringContaining('"y"'),
    });
  });

  test("a front matter over 64 KiB is refused by size, before the parser sees it, in well under a second", () => {
    const t0 = performance.now();
    const r = parseSpecText(`---\ntask_id: f\n${keys(40_000)}\n---\nbody\n`, "flood.md");
    expect(performance.now() - t0).toBeLessThan(500);
    expect(r).toEqual({
      problems: [expect.objectContaining({ message: expect.stringContaining("at most 65536") })],
    });
  });

  test("aliases are still bounded", () => {
    const bomb = `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]`;
    expect(parseFrontMatter(bomb)).toEqual({ problem: expect.stringContaining("not valid YAML") });
  });
});

describe("intake", () => {
  test("a batch over the count limit is refused before parsing and flagged for a 413", async () => {
    const store = memoryStore();
    const inputs = Array.from({ length: SPEC_LIMITS.specsPerBatch + 1 }, (_, i) => ({
      source: `s${i}`,
      text: "not even a spec",
    }));
    const r = await intake(store, inputs, opts);
    expect(r.ok).toBe(false);
    expect(r.overLimit?.map((p) => p.limit)).toEqual(["specsPerBatch"]);
    expect(r.problems).toHaveLength(1);
  });

  test("two intakes of the same id interleaved in one process: exactly one is accepted", async () => {
    const store = memoryStore();
    const [a, b] = await Promise.all([
      intake(store, [{ source: "a.md", text: spec("same") }], opts),
      intake(store, [{ source: "b.md", text: spec("same") }], opts),
    ]);
    expect([a.ok, b.ok].sort()).toEqual([false, true]);
    expect((a.ok ? b : a).problems[0]?.message).toContain("already exists");
    expect(store.db.query("SELECT COUNT(*) AS n FROM tasks").get()).toEqual({ n: 1 });
  });

  test("two connections (two processes) submitting the same id: exactly one is accepted", async () => {
    const dir = tempDir("oyster-intake-race-");
    try {
      const file = join(dir.path, "o.db");
      const mine = openStore(file);
      const other = openStore(file);
      // Both yield between parsing, checking and inserting, so their steps interleave.
      const [a, b] = await Promise.all([
        intake(mine, [{ source: "a.md", text: spec("raced") }], opts),
        intake(other, [{ source: "b.md", text: spec("raced") }], opts),
      ]);
      expect([a.ok, b.ok].sort()).toEqual([false, true]);
      expect((a.ok ? b : a).problems[0]?.message).toContain("already exists");
      expect(mine.db.query("SELECT COUNT(*) AS n FROM tasks").get()).toEqual({ n: 1 });
      mine.close();
      other.close();
    } finally {
      dir.cleanup();
    }
  });
});
