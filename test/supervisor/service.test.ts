import { describe, expect, test } from "bun:test";
import type { ConsolaInstance } from "consola";
import { serviceSchema } from "../../src/config/services.ts";
import type { CheckResult, Instance, Runner } from "../../src/supervisor/instance.ts";
import type { RotatingLog } from "../../src/supervisor/logfile.ts";
import { Service } from "../../src/supervisor/service.ts";

/** A runner whose instances end when the test says so, and whose health the test sets. */
class FakeRunner implements Runner {
  readonly host = "local";
  instances: { pid: number; end: (reason: string) => void; stopped: boolean }[] = [];
  healthy = true;
  startFails = false;
  private nextPid = 100;

  async start(): Promise<Instance> {
    if (this.startFails) throw new Error("no such file");
    const pid = this.nextPid++;
    let end: (reason: string) => void = () => {};
    const exited = new Promise<string>((r) => {
      end = r;
    });
    const rec = { pid, end, stopped: false };
    this.instances.push(rec);
    return {
      pid,
      exited,
      async stop() {
        rec.stopped = true;
        end("signal SIGTERM");
      },
      kill() {
        end("signal SIGKILL");
      },
    };
  }

  async check(): Promise<CheckResult> {
    return this.healthy ? { ok: true } : { ok: false, reason: "HTTP 503" };
  }

  async close(): Promise<void> {}
}

const quiet = { info() {}, warn() {}, error() {}, debug() {} } as unknown as ConsolaInstance;
const noFile = { path: "/dev/null", note() {}, write() {}, close() {} } as unknown as RotatingLog;

function service(raw: Record<string, unknown>, runner = new FakeRunner()) {
  const cfg = serviceSchema.parse({ name: "svc", command: ["true"], ...raw });
  const alerts: Record<string, unknown>[] = [];
  const svc = new Service(cfg, runner, { log: quiet, file: noFile, alert: (p) => alerts.push(p) });
  return { svc, runner, alerts };
}

async function until(cond: () => boolean, ms = 3_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error("condition not met in time");
    await Bun.sleep(5);
  }
}

describe("Service state machine", () => {
  test("an instance that was up ends: started again at once, counted as a restart", async () => {
    const { svc, runner } = service({ backoff: { initial: "5s" } });
    await svc.start();
    // Without health checks, "was up" means up for at least a second.
    await Bun.sleep(1_050);
    runner.instances[0]?.end("signal SIGKILL");
    await until(() => runner.instances.length === 2);
    const st = svc.status();
    expect(st.pid).toBe(101);
    expect(st.restarts).toBe(1);
    expect(st.last_error).toBe("signal SIGKILL");
    await svc.shutdown();
  });

  test("a crash right after start waits the backoff; `start` in backoff starts at once", async () => {
    const { svc, runner } = service({ backoff: { initial: "10s" } });
    await svc.start();
    runner.instances[0]?.end("exit 1");
    await until(() => svc.status().status === "backoff");
    expect(svc.status().next_start_at).toBeGreaterThan(Date.now() + 9_000);
    const st = await svc.start();
    expect(st.status).toBe("running");
    expect(st.pid).toBe(101);
    expect(st.streak).toBe(1);
    await svc.shutdown();
  });

  test("`stop` in backoff stays stopped; `start` then starts a fresh crash loop", async () => {
    const { svc, runner } = service({ backoff: { initial: "200ms" } });
    await svc.start();
    runner.instances[0]?.end("exit 1");
    await until(() => svc.status().status === "backoff");
    await svc.stop();
    await Bun.sleep(400);
    expect(runner.instances.length).toBe(1);
    expect(svc.status().status).toBe("stopped");
    const st = await svc.start();
    expect(st.streak).toBe(0);
    expect(runner.instances.length).toBe(2);
    await svc.shutdown();
  });

  test("unhealthy_threshold failed checks stop the instance and start a new one", async () => {
    const { svc, runner } = service({
      health: { port: 1, interval: "500ms", unhealthy_threshold: 2, grace: "0s" },
    });
    await svc.start();
    await until(() => svc.status().health === "healthy");
    runner.healthy = false;
    await until(() => runner.instances.length === 2, 3_000);
    expect(runner.instances[0]?.stopped).toBe(true);
    expect(svc.status().last_error).toBe("unhealthy: HTTP 503");
    runner.healthy = true;
    await until(() => svc.status().health === "healthy");
    expect(svc.status().restarts).toBe(1);
    await svc.shutdown();
    expect(runner.instances[1]?.stopped).toBe(true);
  });

  test("a start that fails is retried with backoff and alerts after alert_after_restarts", async () => {
    const runner = new FakeRunner();
    runner.startFails = true;
    const { svc, alerts } = service(
      { backoff: { initial: "20ms", max: "40ms" }, alert_after_restarts: 3 },
      runner,
    );
    await svc.start();
    await until(() => svc.status().restarts >= 6);
    expect(svc.status().last_error).toContain("start failed: no such file");
    // More than 3 restarts in a row: one alert, at the 4th, and none after in the same loop.
    expect(alerts.length).toBe(1);
    expect(alerts[0]).toMatchObject({ kind: "service_crash_loop", service: "svc", restarts: 4 });
    expect(svc.status().crash_loop_alerts).toBe(1);
    await svc.shutdown();
  });

  test("a late exit of a replaced instance never starts a second one", async () => {
    const { svc, runner } = service({});
    await svc.start();
    const first = runner.instances[0];
    await svc.restart();
    expect(runner.instances.length).toBe(2);
    first?.end("exit 0"); // already ended by stop(); a second resolve is a no-op, and its gen is old
    await Bun.sleep(50);
    expect(runner.instances.length).toBe(2);
    expect(svc.status().restarts).toBe(1);
    await svc.shutdown();
  });
});
