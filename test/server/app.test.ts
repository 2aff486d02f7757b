import { afterEach, beforeEach, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { BUILTIN_EXECUTORS } from "../../src/config/schema.ts";
import type { LoopStatus } from "../../src/loops/loop.ts";
import { createApp } from "../../src/server/app.ts";
import type { Store } from "../../src/store/db.ts";
import { recordEvent } from "../../src/store/events.ts";
import { addNode, addTask, memoryStore } from "../helpers/store.ts";

/** The Hono app in-process (app.request), on a real in-memory store with the real migrations. */
let store: Store;
const state = { ready: true, shuttingDown: false };
const NOW = 1_000_000;
const loops: LoopStatus[] = [
  {
    name: "scheduler",
    interval_ms: 1000,
    unhealthy_after_ms: 2000,
    cycles: 5,
    errors: 0,
    running: true,
    started_at: 0,
    last_heartbeat: NOW - 500,
    last_duration_ms: 2,
    last_error: null,
    last_error_at: null,
  },
];

const TOKEN = "test-token-0123456789";
/** What the CLI sends: the token, and spec text as text/markdown. */
const AUTH = { authorization: `Bearer ${TOKEN}` };
const MD = { ...AUTH, "content-type": "text/markdown" };
const JSON_H = { ...AUTH, "content-type": "application/json" };

function app(token = TOKEN, http: Record<string, unknown> = {}) {
  const config = parseConfig({ http: { token, ...http } });
  config.executors = { ...BUILTIN_EXECUTORS, ...config.executors };
  return createApp({
    service: "oyster",
    startedAt: NOW - 60_000,
    store,
    config,
    loops: () => loops,
    state,
    now: () => NOW,
  });
}

const spec = (id: string, extra = "") => `---\ntask_id: ${id}\ncommand: "true"\n${extra}---\nbody\n`;

beforeEach(() => {
  store = memoryStore();
  state.ready = true;
  state.shuttingDown = false;
});
afterEach(() => store.close());

test("/health and /ready follow the loops and the shutdown flag", async () => {
  const a = app();
  expect((await a.request("/health")).status).toBe(200);
  expect((await a.request("/ready")).status).toBe(200);
  state.ready = false;
  expect(await (await a.request("/ready")).json()).toEqual({ status: "starting" });
  state.shuttingDown = true;
  const h = await a.request("/health");
  expect(h.status).toBe(503);
  expect(((await h.json()) as { status: string }).status).toBe("shutting_down");
  expect((await a.request("/ready")).status).toBe(503);
});

test("POST /api/tasks: text or JSON, all or nothing, problems named", async () => {
  const a = app();
  const one = await a.request("/api/tasks?source=one.md", { method: "POST", headers: MD, body: spec("one") });
  expect(one.status).toBe(201);
  expect(await one.json()).toEqual({ ok: true, dry_run: false, accepted: ["one"] });

  const batch = await a.request("/api/tasks", {
    method: "POST",
    headers: JSON_H,
    body: JSON.stringify({
      specs: [
        { source: "x.md", text: spec("x", "depends_on: [y]\n") },
        { source: "y.md", text: spec("y", "depends_on: [x]\n") },
      ],
    }),
  });
  expect(batch.status).toBe(422);
  const body = (await batch.json()) as { message: string };
  expect(body.message).toContain("cycle");
  expect(store.db.query("SELECT task_id FROM tasks").all()).toEqual([{ task_id: "one" }]);

  const dry = await a.request("/api/tasks?dry_run=1", { method: "POST", headers: MD, body: spec("two") });
  expect(await dry.json()).toEqual({ ok: true, dry_run: true, accepted: ["two"] });
  expect(store.db.query("SELECT COUNT(*) AS n FROM tasks").get()).toEqual({ n: 1 });

  const junk = await a.request("/api/tasks", {
    method: "POST",
    headers: JSON_H,
    body: "{nope",
  });
  expect(junk.status).toBe(400);
  expect(((await junk.json()) as { error: string }).error).toContain("not valid JSON");
});

test("with a token, every mutating route needs it and nothing changes without it", async () => {
  addTask(store, { id: "t", status: "failed" });
  const a = app("tok");
  for (const [path, body] of [
    ["/api/tasks", spec("new")],
    ["/api/tasks/t/retry", ""],
    ["/api/tasks/t/cancel", ""],
  ] as const) {
    for (const auth of [{ authorization: "Bearer nope" }, {}] as Record<string, string>[]) {
      const headers = { "content-type": "text/markdown", ...auth };
      expect((await a.request(path, { method: "POST", body, headers })).status).toBe(401);
    }
  }
  expect(store.db.query("SELECT task_id, status FROM tasks").all()).toEqual([
    { task_id: "t", status: "failed" },
  ]);
  const ok = await a.request("/api/tasks/t/retry", {
    method: "POST",
    headers: { authorization: "Bearer tok" },
  });
  expect(await ok.json()).toEqual({ ok: true, task_id: "t", from: "failed", to: "pending" });
  // Reads stay open on loopback.
  expect((await a.request("/api/tasks")).status).toBe(200);
  // With no token at all, nothing can change anything.
  const none = await app("").request("/api/tasks/t/cancel", {
    method: "POST",
    headers: { authorization: "Bearer " },
  });
  expect(none.status).toBe(401);
});

test("spec text only as text/markdown, JSON only as application/json: 415 otherwise, nothing written", async () => {
  const a = app();
  const batch = JSON.stringify({ specs: [{ source: "j.md", text: spec("j") }] });
  for (const [type, body] of [
    [undefined, spec("p")],
    ["text/plain", spec("p")],
    ["text/plain; x=json", batch],
    ["application/x-www-form-urlencoded", spec("p")],
    ["multipart/form-data; boundary=x", spec("p")],
    ["application/json-patch+json", batch],
    ["text/json", batch],
    ["application/json; charset=latin1", batch],
  ] as const) {
    const headers: Record<string, string> = { ...AUTH };
    if (type) headers["content-type"] = type;
    const r = await a.request("/api/tasks", { method: "POST", headers, body });
    expect([type, r.status]).toEqual([type, 415]);
    expect(((await r.json()) as { error: string }).error).toContain("text/markdown");
  }
  expect(store.db.query("SELECT COUNT(*) AS n FROM tasks").get()).toEqual({ n: 0 });
  const ok = await a.request("/api/tasks", {
    method: "POST",
    headers: { ...AUTH, "content-type": "Application/JSON; charset=UTF-8" },
    body: batch,
  });
  expect(ok.status).toBe(201);
});

test("a foreign Host or a cross-origin request gets 403 on every route but the probes", async () => {
  addTask(store, { id: "t", status: "failed" });
  const a = app(TOKEN, { allowed_hosts: ["oyster.example", "proxy.example:8443"] });
  const get = (path: string, headers: Record<string, string>) => a.request(path, { headers });
  expect((await get("/api/tasks/t", { host: "evil.example" })).status).toBe(403);
  expect((await get("/api/tasks/t", { host: "evil.example:8090" })).status).toBe(403);
  expect((await get("/api/tasks/t", { host: "localhost.evil.example" })).status).toBe(403);
  expect((await get("/api/tasks/t", { host: "proxy.example:9999" })).status).toBe(403);
  for (const host of ["localhost", "127.0.0.1", "[::1]", "oyster.example:1234", "proxy.example:8443"])
    expect([host, (await get("/api/tasks/t", { host })).status]).toEqual([host, 200]);
  // Probes are called by IP by kubelets and Prometheus; they carry no task data.
  expect((await get("/health", { host: "10.1.2.3:8090" })).status).toBe(200);
  const retry = (headers: Record<string, string>) =>
    a.request("/api/tasks/t/retry", { method: "POST", headers: { ...AUTH, ...headers } });
  expect((await retry({ host: "evil.example" })).status).toBe(403);
  expect((await retry({ origin: "http://evil.example" })).status).toBe(403);
  expect((await retry({ origin: "null" })).status).toBe(403);
  expect((await retry({ origin: "http://localhost:3000" })).status).toBe(403);
  expect((await retry({ "sec-fetch-site": "cross-site" })).status).toBe(403);
  expect((await retry({ "sec-fetch-site": "same-site" })).status).toBe(403);
  expect(store.db.query("SELECT status FROM tasks").get()).toEqual({ status: "failed" });
  const ok = await retry({ origin: "http://localhost", "sec-fetch-site": "same-origin" });
  expect(ok.status).toBe(200);
  expect(ok.headers.get("access-control-allow-origin")).toBeNull();
});

test("beyond loopback every read needs the token too, except the probes unless guard_probes", async () => {
  const open = app(TOKEN, { host: "0.0.0.0" });
  expect((await open.request("/api/tasks")).status).toBe(401);
  expect((await open.request("/api/tasks", { headers: AUTH })).status).toBe(200);
  for (const p of ["/health", "/ready", "/metrics"]) expect((await open.request(p)).status).toBe(200);
  const guarded = app(TOKEN, { host: "0.0.0.0", guard_probes: true });
  for (const p of ["/health", "/ready", "/metrics"]) {
    expect((await guarded.request(p)).status).toBe(401);
    expect((await guarded.request(p, { headers: AUTH })).status).toBe(200);
  }
});

test("task listing filters, detail, 404s, and ids with shell metacharacters", async () => {
  const evil = "$(rm -rf ~); `id`";
  addTask(store, { id: "a", status: "succeeded" });
  addTask(store, { id: evil });
  const a = app();
  const pending = (await (await a.request("/api/tasks?status=pending")).json()) as { task_id: string }[];
  expect(pending.map((t) => t.task_id)).toEqual([evil]);
  expect((await a.request("/api/tasks?status=bogus")).status).toBe(400);
  expect((await a.request("/api/tasks?limit=0")).status).toBe(400);
  const d = await a.request(`/api/tasks/${encodeURIComponent(evil)}`);
  expect(((await d.json()) as { task_id: string }).task_id).toBe(evil);
  expect((await a.request("/api/tasks/none")).status).toBe(404);
  expect((await a.request("/api/nothing")).status).toBe(404);
  const cancel = await a.request("/api/tasks/a/cancel", { method: "POST", headers: AUTH });
  expect(cancel.status).toBe(409);
});

test("events page by id; status, nodes, breakers and stats answer from the store", async () => {
  addNode(store, "n1", 3);
  store.tx((db) => {
    for (let i = 0; i < 5; i++) recordEvent(db, { kind: "k", source: "test", data: { i } }, NOW);
  });
  const a = app();
  const p1 = (await (await a.request("/api/events?limit=2")).json()) as {
    events: { id: number }[];
    next_before: number;
  };
  expect(p1.events.map((e) => e.id)).toEqual([5, 4]);
  const p3 = (await (await a.request("/api/events?limit=2&before=2")).json()) as {
    events: { id: number }[];
    next_before: number | null;
  };
  expect(p3).toEqual({ events: [expect.objectContaining({ id: 1 })], next_before: null });
  const nodes = (await (await a.request("/api/nodes")).json()) as {
    name: string;
    slots: number;
    breaker: string;
  }[];
  expect(nodes).toEqual([expect.objectContaining({ name: "n1", slots: 3, breaker: "CLOSED" })]);
  expect(await (await a.request("/api/breakers")).json()).toEqual([]);
  expect(await (await a.request("/api/stats")).json()).toMatchObject({ total: 0, rate: null });
  const st = (await (await a.request("/api/status")).json()) as {
    controller: { status: string };
    fleet: { tasks: Record<string, number> };
    events: unknown[];
  };
  expect(st.controller.status).toBe("healthy");
  expect(st.fleet.tasks.pending).toBe(0);
  expect(st.events).toHaveLength(5);
});

test("once shutdown began, mutating routes answer 503 and write nothing", async () => {
  const a = app();
  state.shuttingDown = true;
  const r = await a.request("/api/tasks", { method: "POST", headers: MD, body: spec("late") });
  expect(r.status).toBe(503);
  expect(store.db.query("SELECT COUNT(*) AS n FROM tasks").get()).toEqual({ n: 0 });
});

test("?allow_missing_deps also applies to a JSON batch", async () => {
  const body = JSON.stringify({ specs: [{ source: "w.md", text: spec("w", "depends_on: [later]\n") }] });
  const headers = JSON_H;
  expect((await app().request("/api/tasks", { method: "POST", headers, body })).status).toBe(422);
  const ok = await app().request("/api/tasks?allow_missing_deps=1", { method: "POST", headers, body });
  expect(ok.status).toBe(201);
});

test("POST /api/tasks?replace=1 gives a stored task that is not running the new spec; without it, refused", async () => {
  const a = app();
  const first = await a.request("/api/tasks?source=r.md", { method: "POST", headers: MD, body: spec("r") });
  expect(first.status).toBe(201);
  const again = await a.request("/api/tasks?source=r.md", { method: "POST", headers: MD, body: spec("r") });
  expect(again.status).toBe(422);
  expect(((await again.json()) as { message: string }).message).toContain('"r" already exists in the store');
  const replaced = await a.request("/api/tasks?source=r.md&replace=1", {
    method: "POST",
    headers: MD,
    body: spec("r"),
  });
  expect(replaced.status).toBe(201);
  expect(await replaced.json()).toEqual({ ok: true, dry_run: false, accepted: ["r"], replaced: ["r"] });
});

test("errors: typed store outcomes give 404 / 409; an unexpected throw is a 500 that shows no internals", async () => {
  const a = app();
  const missing = await a.request("/api/tasks/nope/cancel", { method: "POST", headers: AUTH });
  expect(missing.status).toBe(404);
  expect(((await missing.json()) as { error: string }).error).toContain('no task named "nope"');
  addTask(store, { id: "t1", status: "pending" });
  const notRetryable = await a.request("/api/tasks/t1/retry", { method: "POST", headers: AUTH });
  expect(notRetryable.status).toBe(409);
  expect(((await notRetryable.json()) as { error: string }).error).toContain("can be retried");

  const read = store.read.bind(store);
  store.read = () => {
    throw new Error("SQLITE_CORRUPT at /secret/path/oyster.db");
  };
  try {
    const r = await a.request("/api/tasks", { headers: AUTH });
    expect(r.status).toBe(500);
    const text = await r.text();
    expect(text).toContain("internal error");
    expect(text).not.toContain("/secret/path");
  } finally {
    store.read = read;
  }
});
