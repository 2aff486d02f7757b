import { describe, expect, test } from "bun:test";
import { BUILTIN_EXECUTORS } from "../../src/config/schema.ts";
import { decodeSpec, MAX_SPEC_BYTES, parseSpecText, type TaskSpec } from "../../src/spec/parse.ts";
import { topoOrder, validateBatch } from "../../src/spec/validate.ts";

const ok = (text: string, source = "a.md"): TaskSpec => {
  const r = parseSpecText(text, source);
  if ("problems" in r) throw new Error(JSON.stringify(r.problems));
  return r.spec;
};
const problems = (text: string) => {
  const r = parseSpecText(text, "x.md");
  return "problems" in r ? r.problems : [];
};
const spec = (id: string, deps: string[] = [], executor = "shell"): TaskSpec =>
  ok(
    `---\ntask_id: ${JSON.stringify(id)}\ndepends_on: ${JSON.stringify(deps)}\nexecutor: ${executor}\ncommand: "true"\n---\n`,
    `${id}.md`,
  );
const ctx = (existing: string[] = [], storeDeps: Record<string, string[]> = {}) => ({
  existing: (ids: string[]) => new Set(ids.filter((i) => existing.includes(i))),
  storeDeps: (ids: string[]) => new Map(ids.map((i) => [i, storeDeps[i] ?? []])),
  executors: BUILTIN_EXECUTORS,
  allowMissingDeps: false,
});

describe("spec parsing", () => {
  test("reads every front-matter field and keeps the body", () => {
    const s = ok(
      '---\ntask_id: S1\nproject: p\npriority: 0\nestimated_minutes: 30\ndepends_on: ["A", "A"]\nmodifies: [x.py]\nexecutor: shell\ntimeout: 90s\nmax_attempts: 2\ncommand: make\n---\n## Goal\nbody\n',
    );
    expect(s).toMatchObject({
      task_id: "S1",
      project: "p",
      priority: 0,
      estimated_minutes: 30,
      depends_on: ["A"],
      modifies: ["x.py"],
      timeout_ms: 90_000,
      max_attempts: 2,
      command: "make",
      body: "## Goal\nbody\n",
    });
  });

  test("no front matter, malformed YAML and a missing task_id are refused clearly", () => {
    expect(problems("# just markdown\n")[0]?.message).toContain("no YAML front matter");
    expect(problems("---\ntask_id: [unclosed\n---\n")[0]?.message).toContain("not valid YAML");
    expect(problems("---\nproject: p\n---\n")[0]).toMatchObject({
      field: "task_id",
      message: expect.stringContaining("missing"),
    });
  });

  test("wrong types name the field and the value", () => {
    const p = problems('---\ntask_id: a\npriority: "high"\ndepends_on: "b"\nmax_attempts: 0\n---\n');
    expect(p.map((x) => x.field).sort()).toEqual(["depends_on", "max_attempts", "priority"]);
    expect(p.find((x) => x.field === "priority")?.message).toContain('"high"');
  });

  test("ids with '/', '..' or control characters are refused; shell metacharacters are kept verbatim", () => {
    expect(problems("---\ntask_id: a/b\n---\n")[0]?.message).toContain("'/'");
    expect(problems("---\ntask_id: ../x\n---\n").length).toBeGreaterThan(0);
    expect(problems('---\ntask_id: "a\\u0007b"\n---\n')[0]?.message).toContain("control");
    expect(ok('---\ntask_id: "$(touch x); `rm -rf ~`"\ncommand: "true"\n---\n').task_id).toBe(
      "$(touch x); `rm -rf ~`",
    );
  });

  test("binary garbage, non-UTF-8 and oversized files are refused before parsing", () => {
    expect(decodeSpec(new Uint8Array([0x2d, 0, 1, 2]), "b")).toEqual({
      problems: [expect.objectContaining({ message: expect.stringContaining("binary") })],
    });
    expect(decodeSpec(new Uint8Array([0xff, 0xfe, 0x41]), "u")).toEqual({
      problems: [expect.objectContaining({ message: "not valid UTF-8 text" })],
    });
    const big = decodeSpec(new Uint8Array(10 * 1024 * 1024).fill(0x41), "big");
    expect("problems" in big && big.problems[0]?.message).toContain(`at most ${MAX_SPEC_BYTES} bytes`);
  });
});

describe("batch validation", () => {
  test("duplicates in the batch and in the store, unknown deps and unknown executors are all reported at once", () => {
    const batch = [spec("a"), spec("a"), spec("b", ["nowhere"]), spec("c", [], "zzz"), spec("old")];
    const p = validateBatch(batch, ctx(["old"]));
    const msgs = p.map((x) => `${x.field}: ${x.message}`);
    expect(msgs).toContainEqual(expect.stringContaining('duplicate id "a"'));
    expect(msgs).toContainEqual(expect.stringContaining('"old" already exists'));
    expect(msgs).toContainEqual(expect.stringContaining('unknown dependency "nowhere"'));
    expect(msgs).toContainEqual(expect.stringContaining('unknown executor "zzz"'));
    expect(p).toHaveLength(4);
  });

  test("a dependency in the store is fine; --allow-missing-deps lets unknown ones wait", () => {
    expect(validateBatch([spec("b", ["old"])], ctx(["old"]))).toEqual([]);
    expect(validateBatch([spec("b", ["later"])], { ...ctx(), allowMissingDeps: true })).toEqual([]);
  });

  test("cycles are refused with the cycle printed, including one through the store", () => {
    const p = validateBatch([spec("a", ["b"]), spec("b", ["c"]), spec("c", ["a"])], ctx());
    expect(p.map((x) => x.message)).toEqual(["dependency cycle: a -> b -> c -> a"]);
    // "old" is in the store and waits on "new"; "new" now depends on "old".
    const q = validateBatch([spec("new", ["old"])], ctx(["old"], { old: ["new"] }));
    expect(q[0]?.message).toBe("dependency cycle: new -> old -> new");
  });

  test("--replace takes stored tasks that are not running, revalidates cycles through the store, refuses running ones", () => {
    const states: Record<
      string,
      { status: string; active: { run_id: string; node: string; state: string } | null }
    > = {
      failed: { status: "failed", active: null },
      done: { status: "succeeded", active: null },
      busy: { status: "running", active: { run_id: "busy-a1-x", node: "n1", state: "running" } },
      gone: { status: "cancelled", active: { run_id: "gone-a1-x", node: "n2", state: "running" } },
      dep: { status: "pending", active: null },
    };
    const replace = (rerunSucceeded: boolean) => ({
      ...ctx(Object.keys(states), { dep: ["failed"] }),
      replace: { rerunSucceeded, states: (ids: string[]) => new Map(ids.map((i) => [i, states[i]!])) },
    });
    expect(validateBatch([spec("failed")], replace(false))).toEqual([]);
    const msgs = validateBatch([spec("done"), spec("busy"), spec("gone")], replace(false)).map(
      (p) => p.message,
    );
    expect(msgs).toEqual([
      '"done" already succeeded; --rerun-succeeded replaces it and runs it again',
      expect.stringContaining(
        '"busy" is running (run busy-a1-x running on node n1); it cannot be replaced while it runs',
      ),
      expect.stringContaining('"gone" is cancelled (run gone-a1-x running on node n2)'),
    ]);
    expect(validateBatch([spec("done")], replace(true))).toEqual([]);
    // "dep" (stored) waits on "failed"; the new "failed" waits on "dep": a cycle through the store.
    expect(validateBatch([spec("failed", ["dep"])], replace(false))[0]?.message).toBe(
      "dependency cycle: failed -> dep -> failed",
    );
  });

  test("a shell task needs a command; self-dependency is refused", () => {
    const noCmd = ok("---\ntask_id: n\n---\n");
    expect(validateBatch([noCmd], ctx())[0]).toMatchObject({ field: "command" });
    expect(validateBatch([spec("s", ["s"])], ctx())[0]?.message).toContain("depends on itself");
  });

  test("10,000 specs with a random DAG validate quickly and order dependencies first", () => {
    const specs = Array.from({ length: 10_000 }, (_, i) =>
      spec(`t${i}`, i > 0 ? [`t${Math.floor(Math.random() * i)}`] : []),
    );
    const t0 = performance.now();
    expect(validateBatch(specs, ctx())).toEqual([]);
    const order = topoOrder(specs);
    expect(performance.now() - t0).toBeLessThan(1_000);
    const pos = new Map(order.map((s, i) => [s.task_id, i]));
    expect(order).toHaveLength(10_000);
    for (const s of specs)
      for (const d of s.depends_on) expect(pos.get(d)!).toBeLessThan(pos.get(s.task_id)!);
  });
});
