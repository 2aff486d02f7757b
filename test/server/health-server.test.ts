import { expect, test } from "bun:test";
import { createHealthServer } from "../../src/server/health-server.ts";

test("createHealthServer: heartbeat keeps it healthy, a stale one turns it 503; seed metric names", async () => {
  let clock = 1_000_000;
  const hs = createHealthServer({ name: "guardian", port: 0, unhealthyAfter: 10_000, now: () => clock });
  try {
    hs.heartbeat();
    const ok = await fetch(`${hs.url}/health`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({
      status: "healthy",
      service: "guardian",
      loops: { guardian: { cycles: 1 } },
    });
    clock += 10_001;
    const stale = await fetch(`${hs.url}/health`);
    expect(stale.status).toBe(503);
    const m = await (await fetch(`${hs.url}/metrics`)).text();
    expect(m).toContain('dispatch_daemon_up{service="guardian"} 0');
    expect(m).toContain('dispatch_daemon_cycles{service="guardian"} 1');
    expect(m).toContain('dispatch_daemon_heartbeat_age{service="guardian"} 10');
    const check = Bun.spawnSync(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(m) });
    expect(check.exitCode).toBe(0);
    hs.heartbeat();
    expect((await fetch(`${hs.url}/health`)).status).toBe(200);
    expect(hs.cycles()).toBe(2);
  } finally {
    await hs.stop();
  }
});
