import { describe, expect, test } from "bun:test";
import { exitCode, healthBody, metricFamilies } from "../../src/supervisor/http.ts";
import { LineFramer, lineTime } from "../../src/supervisor/lines.ts";
import type { RotatingLog } from "../../src/supervisor/logfile.ts";
import { linePrefixer, mergeTails } from "../../src/supervisor/logview.ts";
import { resolveTargets } from "../../src/supervisor/targets.ts";
import type { ServiceStatus } from "../../src/supervisor/types.ts";

function framer() {
  const written: string[] = [];
  const log = { write: (c: string | Uint8Array) => written.push(String(c)) } as unknown as RotatingLog;
  const at = new Date("2026-11-30T07:00:00.000Z");
  return { f: new LineFramer(log, "stderr", () => at), text: () => written.join("") };
}

describe("log lines", () => {
  test("each line is framed with time and stream; a partial line waits for its end", () => {
    const { f, text } = framer();
    const enc = new TextEncoder();
    f.push(enc.encode("one\r\ntw"));
    expect(text()).toBe("2026-11-30T07:00:00.000Z stderr one\n");
    f.push(enc.encode("o\nthree"));
    f.end();
    expect(text()).toBe(
      "2026-11-30T07:00:00.000Z stderr one\n2026-11-30T07:00:00.000Z stderr two\n2026-11-30T07:00:00.000Z stderr three\n",
    );
  });

  test("a UTF-8 character split across chunks stays whole", () => {
    const { f, text } = framer();
    const bytes = new TextEncoder().encode("é\n");
    f.push(bytes.slice(0, 1));
    f.push(bytes.slice(1));
    expect(text()).toBe("2026-11-30T07:00:00.000Z stderr é\n");
  });

  test("lineTime reads framed lines only", () => {
    expect(lineTime("2026-11-30T07:00:00.250Z stdout x")).toBe(Date.parse("2026-11-30T07:00:00.250Z"));
    expect(lineTime("plain output")).toBeNull();
  });

  test("tails of several services merge by time, prefixed and terminal-safe", () => {
    const out = mergeTails(
      [
        { label: "a", text: "2026-11-30T07:00:02.000Z stdout a2\n" },
        { label: "w@n1", text: "2026-11-30T07:00:01.000Z stdout \u001b[2Jw1\nno time\n" },
      ],
      4,
    );
    expect(out).toBe(
      "w@n1 | 2026-11-30T07:00:01.000Z stdout \\e[2Jw1\nw@n1 | no time\na    | 2026-11-30T07:00:02.000Z stdout a2\n",
    );
  });

  test("followed chunks become whole prefixed lines", () => {
    const p = linePrefixer("api", 3);
    expect(p("x\ny")).toBe("api | x\n");
    expect(p("z\n")).toBe("api | yz\n");
  });
});

describe("service targets", () => {
  const list = [
    { name: "api", host: "local" },
    { name: "worker", host: "gpu1" },
  ];
  test("all, a name, NAME@node", () => {
    expect(resolveTargets("all", list)).toEqual({ ok: true, services: list });
    expect(resolveTargets("worker", list)).toEqual({ ok: true, services: [list[1]!] });
    expect(resolveTargets("worker@gpu1", list)).toEqual({ ok: true, services: [list[1]!] });
  });
  test("a wrong node or an unknown name is refused, naming the known ones", () => {
    expect(resolveTargets("worker@gpu2", list)).toEqual({
      ok: false,
      error: 'service "worker" runs on node "gpu1", not on "gpu2" (known: api, worker@gpu1)',
    });
    expect(resolveTargets("db", list)).toEqual({
      ok: false,
      error: 'no service named "db" (known: api, worker@gpu1, or all)',
    });
  });
});

describe("supervisor /health and /metrics", () => {
  const svc = (over: Partial<ServiceStatus>): ServiceStatus => ({
    name: "api",
    host: "local",
    pid: 10,
    status: "running",
    started_at: 1_000,
    health: "healthy",
    restarts: 2,
    streak: 0,
    next_start_at: null,
    last_error: null,
    last_exit: "exit 3",
    last_exit_at: 500,
    crash_loop_alerts: 1,
    log_file: "/x",
    ...over,
  });

  test("exit codes: exit N is N, a signal is 128 + its number", () => {
    expect(exitCode("exit 3")).toBe(3);
    expect(exitCode("signal SIGKILL")).toBe(137);
    expect(exitCode("exit 143 (signal 15 on the node)")).toBe(143);
    expect(exitCode(null)).toBeNull();
  });

  test("a service in backoff makes the supervisor degraded, still listed", () => {
    const b = healthBody([svc({}), svc({ name: "w", status: "backoff", pid: null })], 0, 5_000);
    expect(b.status).toBe("degraded");
    expect(b.uptime_s).toBe(5);
    expect(b.services.map((s) => s.up)).toEqual([true, false]);
    expect(healthBody([svc({ status: "stopped" })], 0, 0).status).toBe("ok");
  });

  test("families: counters end in _total, services without a health check have no _healthy", () => {
    const fams = metricFamilies([svc({}), svc({ name: "b", health: "none", last_exit: null })], 0);
    for (const f of fams) expect(f.type === "counter").toBe(f.name.endsWith("_total"));
    const healthy = fams.find((f) => f.name === "oyster_supervisor_service_healthy")!;
    expect(healthy.samples.map((s) => s.labels?.service)).toEqual(["api"]);
    const exit = fams.find((f) => f.name === "oyster_supervisor_service_last_exit_code")!;
    expect(exit.samples).toEqual([{ labels: { service: "api", host: "local" }, value: 3 }]);
  });
});
