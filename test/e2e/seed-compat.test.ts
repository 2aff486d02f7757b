import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { StatsView } from "../../src/dispatch/stats-view.ts";
import { oyster, waitFor } from "../helpers/cli.ts";
import { controllerSandbox, controllerUrl, localNode } from "../helpers/controller.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * Issue 12 points 3 and 4 on the built binary: what scripts written against the seeds read.
 * /health has seeds/000's top-level fields and, reachable beyond loopback, tells an anonymous
 * caller no file path; `oyster stats --json` and /api/stats are seeds/004's dispatch_stats
 * (last_updated, events newest first); every launch is a task_dispatched event; an overloaded
 * node's cause is in the stats and the event log.
 */
const sandbox = controllerSandbox("oyster-e2e-seed-");

const SPEC = (id: string) => `---\ntask_id: ${id}\ncommand: "true"\n---\nquick\n`;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const setup = (extra: string[] = [], nodeExtra = "") =>
  sandbox.configured([
    localNode(2, nodeExtra),
    "loops: { scheduler: { interval: 100ms }, probe: { interval: 200ms }, factory: { interval: 200ms } }",
    ...extra,
  ]);
const start = sandbox.start;

/** The controller's URL, asked on loopback when it listens on every address. */
async function urlOf(cwd: string, env: Record<string, string> = {}): Promise<string> {
  return (await controllerUrl(cwd, env)).replace("0.0.0.0", "127.0.0.1");
}

const getJson = async <T>(url: string, headers: Record<string, string> = {}) => {
  const r = await fetch(url, { headers });
  return { status: r.status, text: await r.clone().text(), body: (await r.json()) as T };
};

interface EventRow {
  id: number;
  ts: number;
  ts_iso: string;
  kind: string;
  task_id: string | null;
  run_id: string | null;
  node: string | null;
  data: string | null;
}

const statsJson = (cwd: string, args: string[] = []): StatsView => {
  const r = oyster(["stats", "--json", ...args], { cwd });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as StatsView;
};

describe("seed-compatible health, stats and events", () => {
  test("health has the seed's six fields; stats carry last_updated and events; each launch is task_dispatched", async () => {
    const cwd = setup();
    const p = start(cwd);
    const url = await urlOf(cwd);
    for (const id of ["a", "b", "c"]) writeFileSync(join(cwd, `${id}.md`), SPEC(id));
    expect(oyster(["submit", "a.md", "b.md", "c.md"], { cwd }).code).toBe(0);
    const { q } = storeReader(join(cwd, "o.db"));
    await waitFor(
      "a, b and c to succeed",
      () => q<{ n: number }>("SELECT COUNT(*) AS n FROM tasks WHERE status = 'succeeded'")[0]?.n === 3,
    );

    const h = await getJson<Record<string, unknown> & { loops: Record<string, { cycles: number }> }>(
      `${url}/health`,
    );
    expect(h.status).toBe(200);
    const seed = {
      status: h.body.status,
      service: typeof h.body.service,
      uptime: Number.isInteger(h.body.uptime),
      last_heartbeat_age: Number.isInteger(h.body.last_heartbeat_age),
      cycle_count: Number.isInteger(h.body.cycle_count),
      pid: h.body.pid,
    };
    expect(seed).toEqual({
      status: "healthy",
      service: "string",
      uptime: true,
      last_heartbeat_age: true,
      cycle_count: true,
      pid: p.pid,
    });
    expect(h.body.last_heartbeat_age as number).toBeGreaterThanOrEqual(0);
    // The scheduler's cycles, from the same answer; the per-loop detail is still there.
    expect(h.body.cycle_count).toBe(h.body.loops.scheduler?.cycles);
    expect(h.body.cycle_count as number).toBeGreaterThan(0);

    // Every launch is one task_dispatched event naming the task, its run, node and attempt.
    const runs = q<{ task_id: string; run_id: string; node: string; attempt: number }>(
      "SELECT task_id, run_id, node, attempt FROM runs ORDER BY task_id",
    );
    expect(runs).toHaveLength(3);
    const ev = await getJson<{ events: EventRow[] }>(`${url}/api/events?kind=task_dispatched`);
    expect(ev.status).toBe(200);
    const dispatched = ev.body.events
      .map((e) => ({
        task_id: e.task_id,
        run_id: e.run_id,
        node: e.node,
        attempt: JSON.parse(e.data ?? "{}").attempt,
      }))
      .sort((x, y) => (x.task_id ?? "").localeCompare(y.task_id ?? ""));
    expect(dispatched).toEqual(runs);
    for (const e of ev.body.events) expect(new Date(e.ts_iso).getTime()).toBe(e.ts);

    // stats --json: the window as before, plus the seed's last_updated and events, newest first.
    const s = statsJson(cwd);
    expect(s).toMatchObject({ total: 3, success: 3, rate: 1, window_1h: { total: 3, rate: 1 } });
    expect(s.last_updated).toMatch(ISO);
    expect(s.window_1h.last_updated).toBe(s.last_updated);
    expect(new Date(s.last_updated ?? "").getTime()).toBe(s.last_updated_ms ?? -1);
    const launches = s.events.filter((e) => e.kind === "launch");
    expect(launches.map((e) => e.task_id).sort()).toEqual(["a", "b", "c"]);
    for (const e of launches) expect(e).toMatchObject({ success: true, reason: null, node: "local" });
    for (const e of s.events) {
      expect(e.ts).toMatch(ISO);
      expect(new Date(e.ts).getTime()).toBe(e.ts_ms);
    }
    const times = s.events.map((e) => e.ts_ms);
    expect(times).toEqual([...times].sort((x, y) => y - x));
    expect(s.events[0]?.ts).toBe(s.last_updated ?? "");
    // --limit and ?limit= bound the list; the newest stays first.
    const one = statsJson(cwd, ["--limit", "1"]);
    expect(one.events).toEqual([s.events[0]!]);
    expect(statsJson(cwd, ["--limit", "0"]).events).toEqual([]);
    const api = await getJson<StatsView>(`${url}/api/stats?limit=2`);
    expect(api.body.events).toEqual(s.events.slice(0, 2));
    expect(api.body.last_updated).toBe(s.last_updated);
    expect((await fetch(`${url}/api/stats?limit=-1`)).status).toBe(400);
    const bad = oyster(["stats", "--limit", "x"], { cwd });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--limit must be an integer from 0 to 1000, got x");
    // The people's view lists the decisions too.
    const text = oyster(["stats", "--limit", "3"], { cwd });
    expect(text.stdout).toContain(`updated     ${s.last_updated}`);
    expect(text.stdout).toMatch(/TIME\s+RESULT\s+REASON\s+TASK\s+NODE/);
    expect(text.stdout).toContain("launched");
  }, 30_000);

  test("beyond loopback an anonymous /health shows no file path; /api/status with the token has it", async () => {
    const token = "a-long-enough-token-for-the-seed-test";
    // The factory inbox is a file: every factory cycle fails with an error that names its path.
    const cwd = setup(['http: { host: "0.0.0.0", port: 0 }', "factory: { inbox: ./not-a-dir }"]);
    writeFileSync(join(cwd, "not-a-dir"), "x");
    const env = { OYSTER_HTTP_TOKEN: token };
    start(cwd, env);
    const url = await urlOf(cwd, env);
    const auth = { authorization: `Bearer ${token}` };
    type Loops = { loops: Record<string, { last_error: string | null }> };
    const full = await waitFor("the factory's error in /api/status", async () => {
      const r = await getJson<{ controller: Loops }>(`${url}/api/status`, auth);
      const err = r.body.controller?.loops.factory?.last_error;
      return err?.includes(join(cwd, "not-a-dir")) ? err : null;
    });
    expect(full).toContain("ENOTDIR");

    const anon = await getJson<Loops & Record<string, unknown>>(`${url}/health`);
    expect(anon.status).toBe(200);
    expect(anon.body.loops.factory?.last_error).toContain("ENOTDIR");
    expect(anon.body.loops.factory?.last_error).toContain("<path>");
    expect(anon.text).not.toContain(cwd);
    expect(anon.text).not.toContain("/");
    // The seed's fields are there for the anonymous caller too.
    expect(Number.isInteger(anon.body.cycle_count)).toBe(true);
    // With the token, /health is the full text.
    const mine = await getJson<Loops>(`${url}/health`, auth);
    expect(mine.body.loops.factory?.last_error).toContain(join(cwd, "not-a-dir"));
  }, 30_000);

  test("an overloaded node records server_overloaded with its cause in the stats and the event log", async () => {
    // max_load 0: every load average is at or over it, so the local node is always overloaded.
    const cwd = setup(["resources: { max_load: 0 }"]);
    start(cwd);
    const url = await urlOf(cwd);
    writeFileSync(join(cwd, "a.md"), SPEC("a"));
    expect(oyster(["submit", "a.md"], { cwd }).code).toBe(0);
    const s = await waitFor("an overload refusal in the stats", () => {
      const st = statsJson(cwd, ["--limit", "5"]);
      return (st.overload_causes.high_cpu_load ?? 0) > 0 ? st : null;
    });
    expect(s.refusals.server_overloaded).toBe(s.overload_causes.high_cpu_load);
    expect(s.total).toBe(0);
    expect(s.events[0]).toMatchObject({
      success: false,
      kind: "refusal",
      reason: "server_overloaded",
      cause: "high_cpu_load",
      node: "local",
    });
    const ev = await getJson<{ events: EventRow[] }>(`${url}/api/events?kind=server_overloaded`);
    expect(ev.body.events).toHaveLength(1);
    expect(ev.body.events[0]).toMatchObject({ node: "local" });
    expect(JSON.parse(ev.body.events[0]?.data ?? "{}")).toMatchObject({ cause: "high_cpu_load" });
    const { q } = storeReader(join(cwd, "o.db"));
    expect(q<{ status: string }>("SELECT status FROM tasks WHERE task_id = 'a'")[0]?.status).toBe("pending");
    const text = oyster(["stats"], { cwd });
    expect(text.stdout).toMatch(/OVERLOADED BY\s+TICKS\s*\n\s*high_cpu_load\s+\d+/);
  }, 30_000);

  test("a task whose executor is on no node fails at once with pre_flight_check_failed, no attempt spent", async () => {
    const cwd = setup(['executors: { glm: { command: ["true"] } }'], ", executors: [shell]");
    start(cwd);
    const url = await urlOf(cwd);
    writeFileSync(join(cwd, "a.md"), SPEC("a"));
    writeFileSync(join(cwd, "g.md"), "---\ntask_id: g\nexecutor: glm\n---\nneeds glm\n");
    const sub = oyster(["submit", "a.md", "g.md"], { cwd });
    expect(sub.stderr).toBe("");
    const { q } = storeReader(join(cwd, "o.db"));
    const g = await waitFor("g to be dead", () => {
      const t = q<{ status: string; last_reason: string; attempts: number }>(
        "SELECT status, last_reason, attempts FROM tasks WHERE task_id = 'g'",
      )[0];
      return t?.status === "dead" ? t : null;
    });
    expect(g).toEqual({ status: "dead", last_reason: "pre_flight_check_failed", attempts: 0 });
    expect(q("SELECT run_id FROM runs WHERE task_id = 'g'")).toEqual([]);
    await waitFor(
      "a to succeed beside it",
      () => q<{ status: string }>("SELECT status FROM tasks WHERE task_id = 'a'")[0]?.status === "succeeded",
    );
    const ev = await getJson<{ events: EventRow[] }>(`${url}/api/events?kind=task_pre_flight_failed`);
    expect(ev.body.events.map((e) => [e.task_id, JSON.parse(e.data ?? "{}").detail])).toEqual([
      ["g", 'executor "glm" is on no node'],
    ]);
    // Recorded once, in the transaction that ended it: it is no longer ready afterwards.
    const s = statsJson(cwd);
    expect(s.refusals.pre_flight_check_failed).toBe(1);
    expect(s.events.find((e) => e.reason === "pre_flight_check_failed")).toMatchObject({ task_id: "g" });
  }, 30_000);
});
