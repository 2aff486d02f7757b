import { afterEach, beforeEach, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { BUILTIN_EXECUTORS } from "../../src/config/schema.ts";
import type { LoopStatus } from "../../src/loops/runner.ts";
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

function app(token = "") {
  const config = parseConfig({ http: { token } });
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
  const one = await a.request("/api/tasks?source=one.md", { method: "POST", body: spec("one") });
  expect(one.status).toBe(201);
  expect(await one.json()).toEqual({ ok: true, dry_run: false, accepted: ["one"] });

  const batch = await a.request("/api/tasks", {
    method: "POST",
    headers: { "content-type": "application/json" },
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

  const dry = await a.request("/api/tasks?dry_run=1", { method: "POST", body: spec("two") });
  expect(await dry.json()).toEqual({ ok: true, dry_run: true, accepted: ["two"] });
  expect(store.db.query("SELECT COUNT(*) AS n FROM tasks").get()).toEqual({ n: 1 });

  const junk = await a.request("/api/tasks", {
    method: "POST",
    headers: { "content-type": "application/json" },
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
    const r = await a.request(path, { method: "POST", body, headers: { authorization: "Bearer nope" } });
    expect(r.status).toBe(401);
  }
  expect(store.db.query("SELECT task_id, status FROM tasks").all()).toEqual([
    { task_id: "t", status: "failed" },
  ]);
  const ok = await a.request("/api/tasks/t/retry", {
    method: "POST",
    headers: { authorization: "Bearer tok" },
  });
  expect(await ok.json()).toEqual({ ok: true, task_id: "t", from: "failed", to: "pending" });
  // Reads stay open: the server binds to loopback unless a token is set.
  expect((await a.request("/api/tasks")).status).toBe(200);
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
  const cancel = await a.request("/api/tasks/a/cancel", { method: "POST" });
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
  const r = await a.request("/api/tasks", { method: "POST", body: spec("late") });
  expect(r.status).toBe(503);
  expect(store.db.query("SELECT COUNT(*) AS n FROM tasks").get()).toEqual({ n: 0 });
});

test("?allow_missing_deps also applies to a JSON batch", async () => {
  const body = JSON.stringify({ specs: [{ source: "w.md", text: spec("w", "depends_on: [later]\n") }] });
  const headers = { "content-type": "application/json" };
  expect((await app().request("/api/tasks", { method: "POST", headers, body })).status).toBe(422);
  const ok = await app().request("/api/tasks?allow_missing_deps=1", { method: "POST", headers, body });
  expect(ok.status).toBe(201);
});
