import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { OYSTER_BIN, oyster, waitFor } from "../helpers/cli.ts";
import { followLogs, freePort, processesMentioning, superviseSuite } from "../supervisor/helpers.ts";

/**
 * Services, the same way as tasks (issue 13.9) and the crash-loop alert (12.6c), on the built
 * binary: `supervise logs` of every service, `restart all`, the supervisor's own /health and
 * /metrics (promtool, Host check), one systemd unit per service, and one alert per crash loop.
 */
const { allRunning, defer, setup, status, webhook } = superviseSuite("oyster-supops-");

/** A shell service (argv, no shell in between on our side). */
const sh = (name: string, script: string, extra = "") =>
  `  - name: ${name}\n    command: ["sh", "-c", ${JSON.stringify(script)}]\n${extra}`;

/** Every test gets its own supervisor port (never the default, never the controller's 8090). */
const superviseHttp = (port: number) => `supervise: { http: { port: ${port} } }\n`;

async function get(url: string, host?: string): Promise<{ status: number; body: string }> {
  const r = await fetch(url, {
    headers: host ? { host } : {},
    signal: AbortSignal.timeout(2_000),
    keepalive: false,
  });
  return { status: r.status, body: await r.text() };
}

function promtool(text: string): { code: number; out: string } {
  const p = Bun.spawnSync(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(text) });
  return { code: p.exitCode ?? -1, out: p.stdout.toString() + p.stderr.toString() };
}

const sample = (metrics: string, name: string, service: string): number | null => {
  const m = new RegExp(`^${name}\\{service="${service}",host="local"\\} (\\S+)$`, "m").exec(metrics);
  return m?.[1] === undefined ? null : Number(m[1]);
};

describe("oyster supervise: services the same way", () => {
  test("`supervise logs` with no name follows every service, prefixed, timestamped, stream marked, terminal-safe", async () => {
    const { dir, sup } = setup();
    sup(
      `${superviseHttp(freePort())}services:\n${sh("alpha", "echo alpha-up; printf 'alpha-\\033[31mred\\n'; while :; do echo alpha-tick; sleep 0.2; done")}${sh("beta", "echo beta-oops >&2; while :; do echo beta-tick; sleep 0.2; done")}`,
    );
    await waitFor("both running", () => status(dir).filter((r) => r.status === "running").length === 2);
    const { proc, stdout: out } = followLogs(dir);
    defer(async () => {
      proc.kill("SIGKILL");
      await proc.exited;
    });
    const ts = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z";
    // History first, then lines written after it started: it follows.
    const before = await waitFor("history of both", () =>
      /^alpha \| .* stdout alpha-up$/m.test(out()) && /^beta {2}\| .* stderr beta-oops$/m.test(out())
        ? out().length
        : 0,
    );
    await waitFor("new ticks of both", () => {
      const later = out().slice(before);
      return (
        new RegExp(`^alpha \\| ${ts} stdout alpha-tick$`, "m").test(later) &&
        new RegExp(`^beta {2}\\| ${ts} stdout beta-tick$`, "m").test(later)
      );
    });
    expect(out()).toMatch(new RegExp(`^alpha \\| ${ts} oyster started pid \\d+`, "m"));
    // The escape sequence a service printed arrives inert.
    expect(out()).toContain("stdout alpha-\\e[31mred");
    expect(out()).not.toContain("\u001b");
    // Every line carries a service prefix.
    for (const line of out().split("\n").filter(Boolean)) expect(line).toMatch(/^(alpha|beta ) \| /);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);

    // Without following, the same merged history; an unknown name is refused, naming the known ones.
    const once = oyster(["supervise", "logs", "--no-follow", "-n", "1"], { cwd: dir });
    expect(once.code).toBe(0);
    expect(once.stdout.trim().split("\n")).toHaveLength(2);
    const bad = oyster(["supervise", "logs", "gamma"], { cwd: dir });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('no service named "gamma" (known: alpha, beta, or all)');
  }, 30_000);

  test("`restart all` restarts each service (new pids); `stop all` and `start all`", async () => {
    const { dir, sup } = setup();
    sup(
      `${superviseHttp(freePort())}services:\n${sh("one", "exec sleep 1000")}${sh("two", "exec sleep 1000")}`,
    );
    const before = await waitFor("both running", () => allRunning(dir, 2));
    const r = oyster(["supervise", "restart", "all"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^one: running \(pid \d+\)\ntwo: running \(pid \d+\)\n$/);
    const after = status(dir);
    for (const [i, row] of after.entries()) {
      expect(row.pid).not.toBeNull();
      expect(row.pid).not.toBe(before[i]!.pid);
      expect(row.restarts).toBe(1);
    }
    expect(oyster(["supervise", "stop", "all"], { cwd: dir }).code).toBe(0);
    expect(status(dir).map((x) => x.status)).toEqual(["stopped", "stopped"]);
    expect(oyster(["supervise", "start", "all"], { cwd: dir }).code).toBe(0);
    expect(status(dir).map((x) => x.status)).toEqual(["running", "running"]);
    const bad = oyster(["supervise", "restart", "one@elsewhere"], { cwd: dir });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('service "one" runs on this machine, not on "elsewhere"');
  }, 30_000);

  test("/metrics is promtool-clean and counts restarts after a kill; /health 200 per service; a foreign Host gets 403", async () => {
    const { dir, sup } = setup();
    const port = freePort();
    sup(
      `${superviseHttp(port)}services:\n${sh("web", "exec sleep 1000")}${sh("job", "exec sleep 1000", "    backoff: { initial: 100ms }\n")}`,
    );
    const base = `http://127.0.0.1:${port}`;
    await waitFor("both running", () => status(dir).filter((r) => r.status === "running").length === 2);
    // The bound URL is in the state dir too (for port 0).
    expect(readFileSync(join(dir, ".oyster", "supervise-http.url"), "utf8").trim()).toBe(base);

    const m0 = (await get(`${base}/metrics`)).body;
    expect(promtool(m0)).toEqual({ code: 0, out: "" });
    expect(sample(m0, "oyster_supervisor_service_up", "job")).toBe(1);
    expect(sample(m0, "oyster_supervisor_service_restarts_total", "job")).toBe(0);

    const pid = status(dir).find((r) => r.name === "job")!.pid!;
    process.kill(pid, "SIGKILL");
    const m1 = await waitFor("restart counted", async () => {
      const m = (await get(`${base}/metrics`)).body;
      return sample(m, "oyster_supervisor_service_restarts_total", "job") === 1 &&
        sample(m, "oyster_supervisor_service_up", "job") === 1
        ? m
        : null;
    });
    expect(promtool(m1)).toEqual({ code: 0, out: "" });
    expect(sample(m1, "oyster_supervisor_service_last_exit_code", "job")).toBe(137);
    expect(sample(m1, "oyster_supervisor_service_restarts_total", "web")).toBe(0);

    const h = await get(`${base}/health`);
    expect(h.status).toBe(200);
    const body = JSON.parse(h.body) as { status: string; services: Record<string, unknown>[] };
    expect(body.status).toBe("ok");
    expect(body.services.map((s) => s.name)).toEqual(["web", "job"]);
    expect(body.services[1]).toMatchObject({
      host: "local",
      up: true,
      status: "running",
      restarts: 1,
      last_exit: "signal SIGKILL",
    });

    // DNS rebinding: a page on another name reaches 127.0.0.1 with its own Host.
    for (const path of ["/health", "/metrics"]) {
      const foreign = await get(`${base}${path}`, `evil.example:${port}`);
      expect(foreign.status).toBe(403);
      expect(foreign.body).toContain('Host \\"evil.example');
    }
    expect((await get(`${base}/health`, `localhost:${port}`)).status).toBe(200);
  }, 30_000);

  test("a taken port is refused, naming it; a non-loopback host is a config error", async () => {
    const { dir } = setup();
    const taken = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("x") });
    defer(() => taken.stop(true));
    writeFileSync(
      join(dir, "oyster.yaml"),
      `${superviseHttp(taken.port as number)}services:\n${sh("x", "exec sleep 1000")}`,
    );
    const r = oyster(["supervise"], { cwd: dir, timeoutMs: 15_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot listen on 127.0.0.1:${taken.port}`);
    expect(processesMentioning(dir)).toEqual([]);
    writeFileSync(
      join(dir, "oyster.yaml"),
      `supervise: { http: { host: 0.0.0.0 } }\nservices:\n${sh("x", "exec sleep 1000")}`,
    );
    const bad = oyster(["supervise"], { cwd: dir });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("supervise.http.host");
    expect(bad.stderr).toContain("must be a loopback address");
  }, 30_000);

  test("--print-unit systemd --per-service prints one unit per service", () => {
    const { dir } = setup();
    writeFileSync(
      join(dir, "oyster.yaml"),
      `services:\n${sh("api", "exec sleep 1000", '    env: { GREETING: "50% $HOME" }\n    stop_timeout: 7s\n')}  - name: worker\n    command: ["./bin/worker", "--fast"]\n    cwd: ./w\n    health: { port: 9000 }\n`,
    );
    const r = oyster(["supervise", "--print-unit", "systemd", "--per-service"], { cwd: dir });
    expect(r.code).toBe(0);
    const units = r.stdout.split(/^(?=# oyster-)/m);
    expect(units.map((u) => u.split("\n")[0])).toEqual(["# oyster-api.service", "# oyster-worker.service"]);
    for (const u of units) {
      expect(u.match(/^\[Service\]$/gm)).toHaveLength(1);
      expect(u).toContain("Restart=always");
      expect(u).toContain("KillMode=control-group");
    }
    expect(units[0]).toContain('ExecStart=sh -c "exec sleep 1000"');
    expect(units[0]).toContain('Environment="GREETING=50%% $HOME"');
    expect(units[0]).toContain("TimeoutStopSec=7");
    expect(units[0]).toContain(`StandardOutput=append:${join(dir, "logs", "api.log")}`);
    expect(units[1]).toContain(`WorkingDirectory=${join(dir, "w")}`);
    expect(units[1]).toContain(`ExecStart=${join(dir, "w", "bin", "worker")} --fast`);
    expect(units[1]).toContain("systemd does not probe health.url");
    // With no services: `oyster run` itself, whose tasks' run wrappers must outlive a restart.
    writeFileSync(join(dir, "oyster.yaml"), "http: { port: 0 }\n");
    const own = oyster(["supervise", "--print-unit", "systemd", "--per-service"], { cwd: dir });
    expect(own.code).toBe(0);
    expect(own.stdout).toMatch(/^# oyster-oyster-run\.service$/m);
    expect(own.stdout).toContain(`ExecStart=${OYSTER_BIN} run --config ${join(dir, "oyster.yaml")}`);
    expect(own.stdout).toContain("KillMode=process");
    const launchd = oyster(["supervise", "--print-unit", "launchd", "--per-service"], { cwd: dir });
    expect(launchd.code).toBe(2);
    expect(launchd.stderr).toContain("--per-service is for --print-unit systemd only");
  });

  test("a crash loop alerts once per loop (webhook, log line, metric), and again after recovery and a new loop", async () => {
    const { dir, sup } = setup();
    const { url: hookUrl, hooks } = webhook();
    const crash = join(dir, "crash");
    writeFileSync(crash, "");
    const port = freePort();
    const s = sup(
      `notify: { webhook: "${hookUrl}" }\n${superviseHttp(port)}services:\n${sh(
        "flappy",
        `if [ -e ${JSON.stringify(crash)} ]; then echo crashing >&2; exit 3; fi; exec sleep 1000`,
        "    backoff: { initial: 50ms, max: 100ms, reset_after: 1s }\n    alert_after_restarts: 2\n",
      )}`,
    );
    const row = () => status(dir)[0]!;
    // Loop 1: "more than 2" restarts in a row → one alert, at the 3rd; none however long it goes on.
    await waitFor("first alert", () => hooks.length >= 1);
    expect(hooks[0]).toMatchObject({ kind: "service_crash_loop", service: "flappy", restarts: 3 });
    const seen = row().restarts;
    await waitFor("8 more restarts in the same loop", () => row().restarts >= seen + 8);
    expect(hooks).toHaveLength(1);

    // Recovery: it stays up for reset_after, which ends the loop.
    rmSync(crash);
    await waitFor(
      "up for longer than reset_after",
      () => {
        const r = row();
        return r.status === "running" && r.started_at !== null && Date.now() - r.started_at > 1_200;
      },
      { timeoutMs: 10_000 },
    );
    // Loop 2: it crashes again and keeps crashing → exactly one more alert.
    writeFileSync(crash, "");
    process.kill(row().pid!, "SIGKILL");
    await waitFor("second alert", () => hooks.length >= 2);
    const again = row().restarts;
    await waitFor("more restarts in loop 2", () => row().restarts >= again + 6);
    expect(hooks).toHaveLength(2);
    expect(hooks[1]).toMatchObject({ kind: "service_crash_loop", service: "flappy", restarts: 3 });
    expect(s.stderr().split("crash loop: restarted 3 times in a row").length - 1).toBe(2);
    const metrics = (await get(`http://127.0.0.1:${port}/metrics`)).body;
    expect(sample(metrics, "oyster_supervisor_service_crash_loop_alerts_total", "flappy")).toBe(2);
    expect(sample(metrics, "oyster_supervisor_service_last_exit_code", "flappy")).toBe(3);
    expect(row().crash_loop_alerts).toBe(2);
    expect(existsSync(join(dir, "logs", "flappy.log"))).toBe(true);
    expect(readFileSync(join(dir, "logs", "flappy.log"), "utf8")).toMatch(/ stderr crashing$/m);
  }, 40_000);
});
