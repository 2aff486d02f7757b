import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { oyster, waitFor } from "../helpers/cli.ts";
import { controllerSandbox, controllerUrl, localNode } from "../helpers/controller.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * Issue 10.3 on the built binary: a batch over a limit is refused by size before any parsing
 * (413 naming the limit, nothing written), at every door, and the largest allowed batch does not
 * stall the controller's /health.
 */
const sandbox = controllerSandbox("oyster-e2e-intake-limits-");

const TOKEN = "intake-token";
/** Every spec waits on a task that never exists, so nothing is dispatched while we measure. */
const spec = (id: string, body = "quick") =>
  `---\ntask_id: ${id}\ndepends_on: [gate]\ncommand: "true"\n---\n${body}\n`;

const setup = (extra: string[] = []): string =>
  sandbox.configured([
    `http: { port: 0, token: ${TOKEN} }`,
    localNode(2),
    "loops: { scheduler: { interval: 100ms }, reaper: { interval: 200ms }, factory: { interval: 200ms } }",
    ...extra,
  ]);

/** Start the controller of `cwd` and wait for its URL. */
function controller(cwd: string): Promise<string> {
  sandbox.start(cwd);
  return controllerUrl(cwd);
}

const post = (url: string, body: string, type = "application/json") =>
  fetch(`${url}/api/tasks`, {
    method: "POST",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": type },
    body,
  });
const batch = (specs: string[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ specs: specs.map((text, i) => ({ source: `s${i}.md`, text })), ...extra });
const tasksIn = (cwd: string) => storeReader(join(cwd, "o.db")).count("SELECT COUNT(*) AS n FROM tasks");

describe("POST /api/tasks limits", () => {
  test("a batch of 1,001 (or 60,000) specs is refused with 413 naming the limit, and nothing is written", async () => {
    const cwd = setup();
    const url = await controller(cwd);
    for (const n of [1_001, 60_000]) {
      const ids = Array.from({ length: n }, (_, i) => `t${i}`);
      const t0 = performance.now();
      const r = await post(
        url,
        batch(
          ids.map((id) => spec(id)),
          { allow_missing_deps: true },
        ),
      );
      expect(r.status).toBe(413);
      expect(performance.now() - t0).toBeLessThan(2_000);
      const text = await r.text();
      expect(text).toContain("too many specs");
      expect(text).toContain("at most 1000");
    }
    expect(tasksIn(cwd)).toBe(0);
  });

  test("a spec over 1 MiB is refused with 413 naming the limit, as text and inside a JSON batch", async () => {
    const cwd = setup();
    const url = await controller(cwd);
    const huge = spec("big", "x".repeat(1024 * 1024 + 10));
    const asText = await post(url, huge, "text/markdown");
    expect(asText.status).toBe(413);
    expect(((await asText.json()) as { message: string }).message).toContain("at most 1048576 bytes");
    const inBatch = await post(url, batch([spec("ok"), huge], { allow_missing_deps: true }));
    expect(inBatch.status).toBe(413);
    const msg = ((await inBatch.json()) as { message: string }).message;
    expect(msg).toContain("s1.md: too large");
    expect(msg).toContain("at most 1048576 bytes");
    expect(tasksIn(cwd)).toBe(0);
  });

  test("front matter with more than 100 keys is refused naming the limit; 40k keys are refused at once", async () => {
    const cwd = setup();
    const url = await controller(cwd);
    const keys = (n: number) => Array.from({ length: n }, (_, i) => `x-k${i}: ${i}\n`).join("");
    const many = `---\ntask_id: many\ncommand: "true"\n${keys(100)}---\nbody\n`;
    const r = await post(url, many, "text/markdown");
    expect(r.status).toBe(422);
    expect(((await r.json()) as { message: string }).message).toContain(
      "too many keys: more than 100 (the limit",
    );
    // 40k keys (400 KB) took the YAML parser minutes; it is now refused on size before parsing.
    const flood = `---\ntask_id: flood\ncommand: "true"\n${keys(40_000)}---\nbody\n`;
    const t0 = performance.now();
    const f = await post(url, flood, "text/markdown");
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(f.status).toBe(422);
    expect(((await f.json()) as { message: string }).message).toContain("front matter too large");
    // At the limit is fine: 98 keys beside task_id and command make 100.
    const fits = `---\ntask_id: fits\ncommand: "true"\n${keys(98)}---\nbody\n`;
    expect((await post(url, fits, "text/markdown")).status).toBe(201);
    expect(tasksIn(cwd)).toBe(1);
  });

  test("/health answers promptly while the largest allowed batch (1,000 specs, ~7 MB) is posted", async () => {
    const cwd = setup();
    const url = await controller(cwd);
    const body = batch(
      Array.from({ length: 1_000 }, (_, i) => spec(`big-${i}`, `line of the prompt ${i}\n`.repeat(300))),
      { allow_missing_deps: true },
    );
    expect(body.length).toBeGreaterThan(6_000_000);
    const latencies: number[] = [];
    let done = false;
    const poller = (async () => {
      while (!done) {
        const t0 = performance.now();
        const r = await fetch(`${url}/health`);
        await r.text();
        latencies.push(performance.now() - t0);
      }
    })();
    const r = await post(url, body);
    done = true;
    await poller;
    expect(r.status).toBe(201);
    expect(((await r.json()) as { accepted: string[] }).accepted).toHaveLength(1_000);
    expect(tasksIn(cwd)).toBe(1_000);
    expect(latencies.length).toBeGreaterThan(5);
    expect(Math.max(...latencies)).toBeLessThan(500);
  });
});

describe("oyster submit limits", () => {
  test("a directory of 1,001 specs is refused naming the limit before any file is parsed", () => {
    const cwd = setup();
    const d = join(cwd, "specs");
    mkdirSync(d);
    for (let i = 0; i < 1_001; i++) writeFileSync(join(d, `t${i}.md`), spec(`t${i}`));
    // One unparseable file: had it been parsed, its problem would be reported too.
    writeFileSync(join(d, "zz-broken.md"), "no front matter");
    const r = oyster(["submit", d, "--allow-missing-deps"], { cwd });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("too many specs: 1002 (a batch may hold at most 1000; split it)");
    expect(r.stderr).not.toContain("front matter");
    expect(oyster(["tasks", "--json"], { cwd }).stdout.trim()).toBe("[]");
  });
});

describe("factory inbox limits", () => {
  test("an inbox of 1,200 specs is taken in as batches of at most 1,000, none refused", async () => {
    const cwd = setup(["factory: { inbox: ./inbox, min_pending: 0 }"]);
    // Every inbox spec waits on "gate", which waits on a task that never comes: nothing runs.
    const gate = join(cwd, "gate.md");
    writeFileSync(gate, '---\ntask_id: gate\ndepends_on: [never]\ncommand: "true"\n---\n');
    expect(oyster(["submit", gate, "--allow-missing-deps"], { cwd }).code).toBe(0);
    const inbox = join(cwd, "inbox");
    mkdirSync(inbox);
    const settled = new Date(Date.now() - 60_000); // all past the inbox's settle time at once
    for (let i = 0; i < 1_200; i++) {
      const f = join(inbox, `in-${String(i).padStart(4, "0")}.md`);
      writeFileSync(f, spec(`in-${i}`));
      utimesSync(f, settled, settled);
    }
    await controller(cwd);
    const { q } = storeReader(join(cwd, "o.db"));
    await waitFor("all 1,200 inbox specs taken in", () => tasksIn(cwd) === 1_201, { timeoutMs: 30_000 });
    const batches = q<{ data: string }>(
      "SELECT data FROM events WHERE kind = 'tasks_submitted' AND source = 'factory' ORDER BY id",
    ).map((e) => (JSON.parse(e.data) as { count: number }).count);
    expect(batches).toEqual([1_000, 200]);
    expect(existsSync(join(inbox, "failed"))).toBe(false);
  }, 60_000);
});
