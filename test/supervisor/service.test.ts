import { describe, expect, test } from "bun:test";
import type { ConsolaInstance } from "consola";
import { serviceSchema } from "../../src/config/services.ts";
import type { CheckResult, Instance, Runner } from "../../src/supervisor/instance.ts";
import type { RotatingLog } from "../../src/supervisor/logfile.ts";
import { Service } from "../../src/supervisor/service.ts";
import { FakeClock } from "../helpers/fake-clock.ts";

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

/** A service on a fake runner and a fake clock: time passes only by `clock.advance`. */
function service(raw: Record<string, unknown>, runner = new FakeRunner()) {
  const cfg = serviceSchema.parse({ name: "svc", command: ["true"], ...raw });
  const alerts: Record<string, unknown>[] = [];
  const clock = new FakeClock();
  const svc = new Service(cfg, runner, { log: quiet, file: noFile, alert: (p) => alerts.push(p), clock });
  return { svc, runner, alerts, clock };
}

describe("Service state machine", () => {
  test("an instance that was up ends: started again at once, counted as a restart", async () => {
    const { svc, runner, clock } = service({ backoff: { initial: "5s" } });
    await svc.start();
    // Without health checks, "was up" means up for at least a second.
    await clock.advance(1_000);
    runner.instances[0]?.end("signal SIGKILL");
    await clock.advance(0);
    expect(runner.instances.length).toBe(2);
    const st = svc.status();
    expect(st.pid).toBe(101);
    expect(st.restarts).toBe(1);
    expect(st.last_error).toBe("signal SIGKILL");
    await svc.shutdown();
  });

  test("a crash right after start waits the backoff; `start` in backoff starts at once", async () => {
    const { svc, runner, clock } = service({ backoff: { initial: "10s" } });
    await svc.start();
    runner.instances[0]?.end("exit 1");
    await clock.advance(0);
    expect(svc.status().status).toBe("backoff");
    expect(svc.status().next_start_at).toBe(clock.now() + 10_000);
    await clock.advance(9_999);
    expect(runner.instances.length).toBe(1);
    const st = await svc.start();
    expect(st.status).toBe("running");
    expect(st.pid).toBe(101);
    expect(st.streak).toBe(1);
    await svc.shutdown();
  });

  test("`stop` in backoff stays stopped; `start` then starts a fresh crash loop", async () => {
    const { svc, runner, clock } = service({ backoff: { initial: "200ms" } });
    await svc.start();
    runner.instances[0]?.end("exit 1");
    await clock.advance(0);
    expect(svc.status().status).toBe("backoff");
    await svc.stop();
    await clock.advance(400);
    expect(runner.instances.length).toBe(1);
    expect(svc.status().status).toBe("stopped");
    const st = await svc.start();
    expect(st.streak).toBe(0);
    expect(runner.instances.length).toBe(2);
    await svc.shutdown();
  });

  test("a crash loop's delay doubles; an instance that stayed up reset_after ends the loop", async () => {
    const { svc, runner, clock } = service({ backoff: { initial: "1s", max: "1m", reset_after: "10s" } });
    await svc.start();
    runner.instances[0]?.end("exit 1");
    await clock.advance(0);
    expect(svc.status()).toMatchObject({ streak: 1, next_start_at: clock.now() + 1_000 });
    await clock.advance(1_000);
    // Up for 5 s (more than a second, so it "was up") but less than reset_after: still the same loop.
    await clock.advance(5_000);
    runner.instances[1]?.end("exit 1");
    await clock.advance(0);
    expect(svc.status()).toMatchObject({ streak: 2, next_start_at: clock.now() + 2_000 });
    await clock.advance(2_000);
    expect(runner.instances.length).toBe(3);
    // Up for reset_after: the loop is over, so this failure is the first of a new one, restarted at once.
    await clock.advance(10_000);
    runner.instances[2]?.end("exit 1");
    await clock.advance(0);
    expect(runner.instances.length).toBe(4);
    expect(svc.status()).toMatchObject({ status: "running", streak: 1, restarts: 3 });
    await svc.shutdown();
  });

  test("unhealthy_threshold failed checks stop the instance and start a new one", async () => {
    const { svc, runner, clock } = service({
      health: { port: 1, interval: "500ms", unhealthy_threshold: 2, grace: "0s" },
    });
    await svc.start();
    await clock.advance(0);
    expect(svc.status().health).toBe("healthy");
    runner.healthy = false;
    await clock.advance(500);
    // One failed check of two: still the same instance.
    expect(runner.instances.length).toBe(1);
    expect(svc.status().health).toBe("unhealthy");
    await clock.advance(500);
    expect(runner.instances.length).toBe(2);
    expect(runner.instances[0]?.stopped).toBe(true);
    expect(svc.status().last_error).toBe("unhealthy: HTTP 503");
    runner.healthy = true;
    await clock.advance(500);
    expect(svc.status().health).toBe("healthy");
    expect(svc.status().restarts).toBe(1);
    await svc.shutdown();
    expect(runner.instances[1]?.stopped).toBe(true);
  });

  test("a start that fails is retried with backoff and alerts after alert_after_restarts", async () => {
    const runner = new FakeRunner();
    runner.startFails = true;
    const { svc, alerts, clock } = service(
      { backoff: { initial: "20ms", max: "40ms" }, alert_after_restarts: 3 },
      runner,
    );
    await svc.start();
    // 20 ms, then doubled and capped at max: 40, 40 …
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const next = svc.status().next_start_at ?? Number.NaN;
      delays.push(next - clock.now());
      await clock.advance(next - clock.now());
    }
    expect(delays).toEqual([20, 40, 40, 40, 40]);
    expect(svc.status().restarts).toBe(6);
    expect(svc.status().last_error).toContain("start failed: no such file");
    // More than 3 restarts in a row: one alert, at the 4th, and none after in the same loop.
    expect(alerts.length).toBe(1);
    expect(alerts[0]).toMatchObject({ kind: "service_crash_loop", service: "svc", restarts: 4 });
    expect(svc.status().crash_loop_alerts).toBe(1);
    await svc.shutdown();
  });

  test("a late exit of a replaced instance never starts a second one", async () => {
    const { svc, runner, clock } = service({});
    await svc.start();
    const first = runner.instances[0];
    await svc.restart();
    expect(runner.instances.length).toBe(2);
    first?.end("exit 0"); // already ended by stop(); a second resolve is a no-op, and its gen is old
    // Past any backoff a wrongly counted exit could have scheduled.
    await clock.advance(60_000);
    expect(runner.instances.length).toBe(2);
    expect(svc.status().restarts).toBe(1);
    await svc.shutdown();
  });
});
