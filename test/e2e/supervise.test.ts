import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { oyster, waitFor } from "../helpers/cli.ts";
import {
  alive,
  freePort,
  groupMembers,
  httpStatus,
  processesMentioning,
  SERVICE_COMMAND,
  servicePid,
  superviseSuite,
} from "../supervisor/helpers.ts";

const { setup, status, webhook } = superviseSuite("oyster-sup-");

/** The start times (epoch ms) fixtures/service.ts appended to STARTS_FILE `file`, in order. */
const startTimes = (file: string): number[] =>
  existsSync(file)
    ? readFileSync(file, "utf8")
        .trim()
        .split("\n")
        .map((l) => Number(l.split(" ")[0]))
    : [];

const svc = (name: string, env: Record<string, string>, extra = "") =>
  `  - name: ${name}
    command: ${SERVICE_COMMAND}
    env: ${JSON.stringify(env)}
${extra}`;

describe("oyster supervise (seed acceptance)", () => {
  test("starts 3 services, heals kill -9 and 503, restarts on request, and Ctrl+C stops everything", async () => {
    const { dir, sup } = setup();
    const ports = [freePort(), freePort(), freePort()];
    const sick = join(dir, "sick-reaper");
    const yaml = `services:
${svc("guardian", { PORT: String(ports[0]), GRANDCHILD: join(dir, "gc-guardian") }, `    health: { port: ${ports[0]}, interval: 500ms, grace: 2s }\n`)}
${svc("reaper", { PORT: String(ports[1]), SICK_FILE: sick }, `    health: { port: ${ports[1]}, interval: 500ms, grace: 2s, unhealthy_threshold: 3 }\n`)}
${svc("factory", { PORT: String(ports[2]) }, `    health: { port: ${ports[2]}, interval: 500ms, grace: 2s }\n`)}
`;
    const s = sup(yaml);
    // All three up and healthy, as the supervisor sees them.
    const rows = await waitFor("3 healthy services", () => {
      const r = status(dir);
      return r.length === 3 && r.every((x) => x.health === "healthy") ? r : null;
    });
    expect(rows.map((r) => r.name)).toEqual(["guardian", "reaper", "factory"]);
    const table = oyster(["supervise", "status"], { cwd: dir });
    expect(table.code).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/^SERVICE\s+PID\s+STATUS\s+UPTIME\s+HEALTH\s+RESTARTS$/);
    for (const n of ["guardian", "reaper", "factory"])
      expect(table.stdout).toMatch(new RegExp(`^${n}\\s+\\d+\\s+running`, "m"));

    // `oyster status` shows the same table, also on a host with no controller and no store.
    const st = oyster(["status", "--url", "http://127.0.0.1:9"], { cwd: dir });
    expect(st.code).toBe(3); // the controller is down, as `systemctl status` would say

    expect(st.stdout).toContain("controller  DOWN");
    expect(st.stdout).toContain("store       none yet");
    expect(st.stdout).toMatch(/^SERVICE\s+PID\s+STATUS\s+UPTIME\s+HEALTH\s+RESTARTS$/m);
    expect(st.stdout).toMatch(/^reaper\s+\d+\s+running/m);

    // The control socket is private to this user.
    expect(statSync(join(dir, ".oyster", "supervise.sock")).mode & 0o777).toBe(0o600);

    // kill -9: back and healthy within 2 s, with a new pid.
    const old = (await servicePid(ports[0]!))!;
    const gc = Number(readFileSync(join(dir, "gc-guardian"), "utf8"));
    const t0 = Date.now();
    process.kill(old, "SIGKILL");
    await waitFor(
      "guardian back",
      async () => (await servicePid(ports[0]!)) !== old && (await httpStatus(ports[0]!)) === 200,
      {
        timeoutMs: 2_000,
        intervalMs: 10,
      },
    );
    const back = Date.now() - t0;
    expect(back).toBeLessThan(2_000);
    // Its grandchild went with its process group.
    await waitFor("old grandchild gone", () => !alive(gc), { timeoutMs: 2_000 });
    expect(groupMembers(old)).toEqual([]);

    // /health turns 503 → restarted after 3 failed checks (new pid), healthy again once it is fixed.
    const reaperPid = (await servicePid(ports[1]!))!;
    writeFileSync(sick, "");
    await waitFor("reaper replaced", async () => {
      const p = await servicePid(ports[1]!);
      return p !== null && p !== reaperPid;
    });
    rmSync(sick);
    await waitFor("reaper healthy", () => status(dir).find((r) => r.name === "reaper")?.health === "healthy");
    expect(status(dir).find((r) => r.name === "reaper")!.restarts).toBeGreaterThanOrEqual(1);
    expect(readFileSync(join(dir, "logs", "reaper.log"), "utf8")).toContain("unhealthy (HTTP 503)");

    // restart NAME: a new pid for that one only.
    const before = status(dir);
    const r = oyster(["supervise", "restart", "factory"], { cwd: dir });
    expect(r.code).toBe(0);
    const after = status(dir);
    expect(after.find((x) => x.name === "factory")!.pid).not.toBe(
      before.find((x) => x.name === "factory")!.pid,
    );
    expect(after.find((x) => x.name === "guardian")!.pid).toBe(
      before.find((x) => x.name === "guardian")!.pid,
    );

    // stop / start NAME.
    expect(oyster(["supervise", "stop", "factory"], { cwd: dir }).code).toBe(0);
    expect(status(dir).find((x) => x.name === "factory")!.status).toBe("stopped");
    expect(await httpStatus(ports[2]!)).toBe(0);
    expect(oyster(["supervise", "start", "factory"], { cwd: dir }).code).toBe(0);
    await waitFor("factory back", async () => (await httpStatus(ports[2]!)) === 200);

    // logs NAME prints the service's output.
    const logs = oyster(["supervise", "logs", "guardian"], { cwd: dir });
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain("listening on");

    // Ctrl+C: every service's process group goes, exit 0, no orphans.
    const last = status(dir);
    const gc2 = Number(readFileSync(join(dir, "gc-guardian"), "utf8"));
    s.proc.kill("SIGINT");
    expect(await s.proc.exited).toBe(0);
    for (const row of last) {
      expect(alive(row.pid!)).toBe(false);
      expect(groupMembers(row.pid!)).toEqual([]);
    }
    expect(alive(gc2)).toBe(false);
    expect(processesMentioning(dir)).toEqual([]);
    expect(existsSync(join(dir, ".oyster", "supervise.sock"))).toBe(false);
    console.log(`kill -9 → healthy: ${back} ms`);
  }, 40_000);

  test("a crash loop backs off 1, 2, 4 s by default and keeps trying", async () => {
    const { dir, sup } = setup();
    const starts = join(dir, "starts");
    sup(`services:\n${svc("crashy", { CRASH: "1", STARTS_FILE: starts })}`);
    const times = await waitFor(
      "4 starts",
      () => {
        const t = startTimes(starts);
        return t.length >= 4 ? t : null;
      },
      { timeoutMs: 12_000 },
    );
    const gaps = times.slice(1, 4).map((t, i) => (t - times[i]!) / 1000);
    // Each gap = backoff + the start-up time of a bun process (well under 0.5 s).
    [1, 2, 4].forEach((want, i) => {
      expect(gaps[i]!).toBeGreaterThanOrEqual(want);
      expect(gaps[i]!).toBeLessThan(want + 0.6);
    });
    expect(status(dir)[0]!.status).toMatch(/backoff|starting/);
  }, 20_000);

  test("a configured backoff doubles 200, 400, 800, 1600 ms and alerts after alert_after_restarts", async () => {
    const { dir, sup } = setup();
    const starts = join(dir, "starts");
    const { url: hookUrl, hooks } = webhook();
    const s = sup(
      `notify: { webhook: "${hookUrl}" }\nservices:\n${svc("crashy", { CRASH: "1", STARTS_FILE: starts }, "    backoff: { initial: 200ms, max: 10s }\n    alert_after_restarts: 3\n")}`,
    );
    const times = await waitFor("5 starts", () => {
      const t = startTimes(starts);
      return t.length >= 5 ? t : null;
    });
    const gaps = times.slice(1, 5).map((t, i) => t - times[i]!);
    [200, 400, 800, 1600].forEach((want, i) => {
      expect(gaps[i]!).toBeGreaterThanOrEqual(want);
      expect(gaps[i]!).toBeLessThan(want + 500);
    });
    // More than alert_after_restarts (3) in a row: the 4th restart alerts.
    await waitFor("webhook alert", () => hooks.length >= 1);
    expect(hooks[0]).toMatchObject({ kind: "service_crash_loop", service: "crashy", restarts: 4 });
    expect(s.stderr()).toContain("restarted 4 times in a row");
  }, 20_000);

  test("a service that ignores SIGTERM is SIGKILLed after stop_timeout on shutdown", async () => {
    const { dir, sup } = setup();
    const s = sup(
      `services:\n${svc("stubborn", { IGNORE_TERM: "1", GRANDCHILD: join(dir, "gc") }, "    stop_timeout: 700ms\n")}`,
    );
    const row = await waitFor("running", () => status(dir).find((r) => r.status === "running" && r.pid));
    await waitFor("grandchild", () => existsSync(join(dir, "gc")) && readFileSync(join(dir, "gc"), "utf8"));
    const t0 = Date.now();
    s.proc.kill("SIGTERM");
    expect(await s.proc.exited).toBe(0);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(650);
    expect(took).toBeLessThan(3_000);
    expect(groupMembers(row.pid!)).toEqual([]);
  }, 20_000);

  test("a second signal kills everything at once and exits 130", async () => {
    const { dir, sup } = setup();
    // Healthy, not just "running": only then has the service installed its SIGTERM handler.
    const port = freePort();
    const s = sup(
      `services:\n${svc("stubborn", { IGNORE_TERM: "1", PORT: String(port) }, `    stop_timeout: 30s\n    health: { port: ${port} }\n`)}`,
    );
    const row = await waitFor("healthy", () => status(dir).find((r) => r.health === "healthy" && r.pid));
    s.proc.kill("SIGINT");
    // The second signal must come after the first was handled, not with it.
    await waitFor("the first SIGINT handled", () =>
      s.stderr().includes("SIGINT: shutting down (again to force)"),
    );
    s.proc.kill("SIGINT");
    expect(await s.proc.exited).toBe(130);
    await waitFor("group gone", () => groupMembers(row.pid!).length === 0, { timeoutMs: 2_000 });
  }, 20_000);
});

describe("oyster supervise (CLI)", () => {
  test("client commands say clearly that no supervisor is running and exit 1", () => {
    const { dir } = setup();
    for (const args of [["status"], ["restart", "x"], ["stop", "x"], ["start", "x"]]) {
      const r = oyster(["supervise", ...args], { cwd: dir });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("no supervisor is running");
    }
  });

  test("config errors name the service and the key", () => {
    const { dir } = setup();
    writeFileSync(
      join(dir, "oyster.yaml"),
      `services:\n  - name: a\n    command: [x]\n  - name: b\n    command: [x]\n    health: { port: 80, interval: 100ms }\n`,
    );
    const r = oyster(["supervise"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("services[1].health.interval");
    writeFileSync(join(dir, "oyster.yaml"), `services:\n  - name: a\n    command: [x]\n    host: nowhere\n`);
    const r2 = oyster(["supervise"], { cwd: dir });
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain('services[0].host: no node named "nowhere"');
  });

  test("an unknown service name is refused by the running supervisor", async () => {
    const { dir, sup } = setup();
    sup(`services:\n${svc("one", {})}`);
    await waitFor("up", () => status(dir).length === 1);
    const r = oyster(["supervise", "restart", "nope"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no service named "nope"');
  });

  test("--print-unit prints a systemd unit and a launchd plist that run this binary", () => {
    const { dir } = setup();
    writeFileSync(join(dir, "oyster.yaml"), "services: []\n");
    const u = oyster(["supervise", "--print-unit", "systemd"], { cwd: dir });
    expect(u.code).toBe(0);
    expect(u.stdout).toMatch(/^ExecStart=\/\S+ supervise --config \/\S+oyster\.yaml$/m);
    expect(u.stdout).toContain("Restart=always");
    expect(u.stdout).toContain(`WorkingDirectory=${dir}`);
    const p = oyster(["supervise", "--print-unit", "launchd"], { cwd: dir });
    expect(p.code).toBe(0);
    expect(p.stdout).toContain("<key>KeepAlive</key>");
    expect(oyster(["supervise", "--print-unit", "upstart"], { cwd: dir }).code).toBe(2);
  });
});
