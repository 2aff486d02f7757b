import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, OYSTER_BIN, oyster, REPO_ROOT, waitFor } from "../helpers/cli.ts";
import { controllerSandbox, controllerUrl, localNode } from "../helpers/controller.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * The controller's HTTP surface from the built binary: probes, /metrics through promtool, the
 * token on mutating routes, a taken port, a hung loop and SIGTERM.
 */
const sandbox = controllerSandbox("oyster-e2e-server-");

/** Words in the docs that look like metric names but are config keys or variables. */
const NOT_METRICS = new Set(["oyster_home", "oyster_bin"]);

const SPEC = (id: string) => `---\ntask_id: ${id}\ncommand: "true"\n---\nquick\n`;

const setup = (extra: string[] = []) => sandbox.configured([localNode(2), ...extra]);

function start(cwd: string, env: Record<string, string> = {}, args: string[] = ["--port", "0"]) {
  const p = sandbox.track(
    Bun.spawn([OYSTER_BIN, "run", ...args], {
      cwd,
      stdout: "pipe",
      stderr: "pipe",
      env: cleanEnv({ NO_COLOR: "1", ...env }),
    }),
  );
  let err = "";
  void (async () => {
    for await (const chunk of p.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(chunk);
  })();
  return { p, stderr: () => err };
}

/** The controller writes its bound URL into the store; `oyster status --json` reports it. */
const urlOf = (cwd: string) => controllerUrl(cwd);

const get = async (url: string) => {
  const r = await fetch(url);
  return { status: r.status, text: await r.text() };
};

describe("oyster run's HTTP server", () => {
  test("health, ready, status and promtool-clean metrics while loops run", async () => {
    const cwd = setup([
      "loops: { scheduler: { interval: 100ms, unhealthy_after: 10s }, reaper: { interval: 200ms, unhealthy_after: 10s } }",
    ]);
    start(cwd);
    const url = await urlOf(cwd);
    writeFileSync(join(cwd, "a.md"), SPEC("a"));
    expect(oyster(["submit", "a.md"], { cwd }).code).toBe(0);
    const { q } = storeReader(join(cwd, "o.db"));
    await waitFor(
      "task a to succeed",
      () => q<{ status: string }>("SELECT status FROM tasks WHERE task_id = 'a'")[0]?.status === "succeeded",
    );

    const h = await get(`${url}/health`);
    expect(h.status).toBe(200);
    const body = JSON.parse(h.text);
    expect(body.status).toBe("healthy");
    expect(body.pid).toBeGreaterThan(0);
    expect(Object.keys(body.loops).sort()).toEqual(["factory", "guardian", "probe", "reaper", "scheduler"]);
    expect(body.loops.scheduler.cycles).toBeGreaterThan(0);
    expect((await get(`${url}/ready`)).status).toBe(200);

    const m = await get(`${url}/metrics`);
    expect(m.status).toBe(200);
    const check = Bun.spawnSync(["promtool", "check", "metrics"], {
      stdin: new TextEncoder().encode(m.text),
    });
    expect({ code: check.exitCode, out: check.stdout.toString() + check.stderr.toString() }).toEqual({
      code: 0,
      out: "",
    });
    for (const name of [
      "oyster_up 1",
      'oyster_loop_cycles_total{loop="scheduler"}',
      'oyster_loop_heartbeat_age_seconds{loop="reaper"}',
      'oyster_loop_cycle_duration_seconds_bucket{loop="scheduler",le="+Inf"}',
      'oyster_tasks{status="succeeded"} 1',
      'oyster_node_slots{node="local"} 2',
      'oyster_node_running{node="local"}',
      'oyster_node_online{node="local"} 1',
      'oyster_dispatches_total{result="success",reason="success"} 1',
      "oyster_dispatch_success_ratio 1",
      "process_resident_memory_bytes",
      "process_cpu_seconds_total",
      'dispatch_daemon_up{service="scheduler"} 1',
      'dispatch_daemon_uptime{service="reaper"}',
      'dispatch_daemon_cycles{service="guardian"}',
      'dispatch_daemon_heartbeat_age{service="factory"}',
      "# TYPE oyster_ssh_command_duration_seconds histogram",
      "# TYPE oyster_breaker_state gauge",
    ]) {
      expect(m.text).toContain(name);
    }

    // Every metric the Grafana dashboard and the README name is one /metrics exposes.
    const documented = new Set<string>();
    for (const f of ["docs/grafana-dashboard.json", "README.md"]) {
      const text = readFileSync(join(REPO_ROOT, f), "utf8");
      for (const n of text.match(/\b(?:oyster|process|dispatch_daemon)_[a-z0-9_]+/g) ?? [])
        documented.add(n.replace(/_(bucket|sum|count)$/, ""));
    }
    const exposed = new Set([...m.text.matchAll(/^# TYPE (\S+)/gm)].map((x) => x[1]));
    // oyster_supervisor_* belong to `oyster supervise`'s own /metrics (test/e2e/supervise-ops.test.ts).
    expect(
      [...documented].filter(
        (n) => !exposed.has(n) && !NOT_METRICS.has(n) && !n.startsWith("oyster_supervisor_"),
      ),
    ).toEqual([]);

    const st = oyster(["status"], { cwd });
    expect(st.code).toBe(0);
    expect(st.stdout).toContain(`controller  up, healthy — ${url}`);
    expect(st.stdout).toMatch(/scheduler\s+\d+/);
    expect(st.stdout).toMatch(/local\s+online\s+0\/2/);
    expect(st.stdout).toContain("1 succeeded");
    const hc = oyster(["health"], { cwd });
    expect(hc.code).toBe(0);
    expect(hc.stdout).toContain("healthy: 5 loop(s) turning");
    // Something that answers JSON but is not a controller is not healthy, and says so.
    const notUs = oyster(["health", "--url", `${url}/api/nodes`], { cwd });
    expect(notUs.code).toBe(1);
    expect(notUs.stdout).toContain("not as an oyster controller");

    // --watch redraws until Ctrl+C, then exits 0; with --json, one document per line.
    const w = Bun.spawn([OYSTER_BIN, "status", "--watch", "--json", "--interval", "0.2"], {
      cwd,
      stdout: "pipe",
      env: cleanEnv({ NO_COLOR: "1" }),
    });
    const reader = (w.stdout as ReadableStream<Uint8Array>).getReader();
    let out = "";
    await waitFor("two status documents", async () => {
      const { value } = await reader.read();
      out += new TextDecoder().decode(value);
      return out.split("\n").filter(Boolean).length >= 2;
    });
    w.kill("SIGINT");
    expect(await w.exited).toBe(0);
    for (const line of out.split("\n").filter(Boolean))
      expect(JSON.parse(line).controller).toMatchObject({ up: true, url });
  });

  test("with http.token, a mutating request without it gets 401 and changes nothing", async () => {
    const cwd = setup(['http: { port: 0, token: "s3cret" }', "loops: { scheduler: { interval: 100ms } }"]);
    start(cwd);
    const url = await urlOf(cwd);
    const post = (path: string, body: string, auth?: string) =>
      fetch(`${url}${path}`, {
        method: "POST",
        body,
        headers: { "content-type": "text/markdown", ...(auth ? { authorization: auth } : {}) },
      });
    for (const auth of [undefined, "Bearer wrong", "s3cret"]) {
      const r = await post("/api/tasks", SPEC("t1"), auth);
      expect(r.status).toBe(401);
      expect(await r.text()).toContain("Bearer");
    }
    expect(await (await fetch(`${url}/api/tasks`)).json()).toEqual([]);
    const { count } = storeReader(join(cwd, "o.db"));
    expect(count("SELECT COUNT(*) AS n FROM tasks")).toBe(0);

    const ok = await post("/api/tasks", SPEC("t1"), "Bearer s3cret");
    expect(ok.status).toBe(201);
    expect(await ok.json()).toEqual({ ok: true, dry_run: false, accepted: ["t1"] });
    const detail = await waitFor("t1 to succeed over the API", async () => {
      const t = (await (await fetch(`${url}/api/tasks/t1`)).json()) as { status: string; runs: unknown[] };
      return t.status === "succeeded" ? t : null;
    });
    expect(detail.runs).toHaveLength(1);
    expect((await post("/api/tasks/t1/retry", "", undefined)).status).toBe(401);
    expect(((await (await fetch(`${url}/api/tasks/t1`)).json()) as { status: string }).status).toBe(
      "succeeded",
    );

    // The body limit holds for chunked bodies too (no Content-Length to check up front).
    const chunk = new TextEncoder().encode("x".repeat(1024 * 1024));
    let sent = 0;
    const big = await fetch(`${url}/api/tasks?dry_run=1`, {
      method: "POST",
      headers: { authorization: "Bearer s3cret", "content-type": "text/markdown" },
      body: new ReadableStream({
        pull(ctl) {
          if (sent++ < 20) ctl.enqueue(chunk);
          else ctl.close();
        },
      }),
    }).catch((err: Error) => ({ status: `closed: ${err.message}` }));
    expect([413, "closed"]).toContain(typeof big.status === "number" ? big.status : "closed");

    const bad = await post("/api/tasks", "no front matter here", "Bearer s3cret");
    expect(bad.status).toBe(422);
    expect(JSON.stringify(await bad.json())).toContain("front matter");
    expect(count("SELECT COUNT(*) AS n FROM tasks")).toBe(1);
  });

  test("a loop that hangs turns /health 503 within its unhealthy_after; oyster health says which", async () => {
    const cwd = setup(["loops: { reaper: { interval: 100ms, unhealthy_after: 800ms } }"]);
    start(cwd, { OYSTER_TEST_HANG_LOOP: "reaper" });
    const url = await urlOf(cwd);
    // The reaper's second cycle never ends; its last heartbeat is the end of cycle 1.
    const first = await waitFor("the reaper's first heartbeat", async () => {
      const b = JSON.parse((await get(`${url}/health`)).text);
      return b.loops.reaper.cycles >= 1 ? Date.now() : null;
    });
    const body = await waitFor(
      "/health to answer 503",
      async () => {
        const r = await get(`${url}/health`);
        return r.status === 503 ? JSON.parse(r.text) : null;
      },
      { timeoutMs: 5_000, intervalMs: 20 },
    );
    // 800 ms after the last heartbeat, plus one 100 ms interval before the hung cycle began.
    expect(Date.now() - first).toBeLessThan(800 + 100 + 500);
    expect(body.status).toBe("unhealthy");
    expect(body.unhealthy).toEqual(["reaper"]);
    expect(body.loops.scheduler.healthy).toBe(true);
    const hc = oyster(["health"], { cwd });
    expect(hc.code).toBe(1);
    expect(hc.stdout).toMatch(/^unhealthy: reaper \(last heartbeat [\d.]+s ago, limit 0.8s\)/);
  });

  test("a taken port is logged and the controller keeps dispatching", async () => {
    const squatter = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("not oyster") });
    try {
      const cwd = setup([`http: { port: ${squatter.port} }`, "loops: { scheduler: { interval: 100ms } }"]);
      const c = start(cwd, {}, []);
      await waitFor("the bind error", () => c.stderr().includes("already in use"));
      expect(c.stderr()).toContain(`cannot listen on 127.0.0.1:${squatter.port}`);
      writeFileSync(join(cwd, "b.md"), SPEC("b"));
      expect(oyster(["submit", "b.md"], { cwd }).code).toBe(0);
      const { q } = storeReader(join(cwd, "o.db"));
      await waitFor(
        "task b to succeed",
        () =>
          q<{ status: string }>("SELECT status FROM tasks WHERE task_id = 'b'")[0]?.status === "succeeded",
      );
      expect(c.p.exitCode).toBeNull();
      // The squatter answers, but not as a controller: status falls back to the store and says so.
      const st = oyster(["status"], { cwd });
      expect(st.code).toBe(3); // down, like systemctl status (issue 11.6)
      expect(st.stdout).toContain("controller  DOWN");
      expect(st.stdout).toContain("1 succeeded");
    } finally {
      squatter.stop(true);
    }
  });

  test("SIGTERM: /health and /ready answer 503 at once, then exit 0 within 10 s", async () => {
    // The guardian's second cycle hangs, so shutdown waits out the loop stop bound (5 s) and
    // there is a window to see the 503s in.
    const cwd = setup(["loops: { guardian: { interval: 100ms, unhealthy_after: 60s } }"]);
    const c = start(cwd, { OYSTER_TEST_HANG_LOOP: "guardian" });
    const url = await urlOf(cwd);
    await waitFor("the guardian to hang in its second cycle", async () => {
      const g = JSON.parse((await get(`${url}/health`)).text).loops.guardian;
      return g.cycles === 1 && g.last_heartbeat_age_s > 0.3;
    });
    const t0 = Date.now();
    c.p.kill("SIGTERM");
    const body = await waitFor(
      "/health to say shutting_down",
      async () => {
        const r = await get(`${url}/health`);
        return r.status === 503 ? JSON.parse(r.text) : null;
      },
      { timeoutMs: 3_000, intervalMs: 10 },
    );
    expect(body.status).toBe("shutting_down");
    expect(Date.now() - t0).toBeLessThan(1_000);
    const ready = await get(`${url}/ready`);
    expect(ready.status).toBe(503);
    expect(await c.p.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    // Down now: status reads the store and says so; health fails.
    const st = oyster(["status"], { cwd });
    expect(st.code).toBe(3);
    expect(st.stdout).toContain("controller  DOWN");
    expect(oyster(["health"], { cwd }).code).toBe(1);
  }, 20_000);

  test("binding beyond loopback with a short token refuses to start", () => {
    const cwd = setup(['http: { host: "0.0.0.0", port: 0, token: "s3cret" }']);
    const r = oyster(["run", "--port", "0"], { cwd, timeoutMs: 10_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("use at least 16");
  });
});
