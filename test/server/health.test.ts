import { expect, test } from "bun:test";
import type { LoopStatus } from "../../src/loops/runner.ts";
import { healthReason, healthReport } from "../../src/server/health.ts";

const loop = (
  name: string,
  heartbeat: number | null,
  unhealthyAfter = 2_000,
  extra: Partial<LoopStatus> = {},
) =>
  ({
    name,
    interval_ms: unhealthyAfter / 2,
    unhealthy_after_ms: unhealthyAfter,
    cycles: 3,
    errors: 0,
    running: true,
    started_at: 0,
    last_heartbeat: heartbeat,
    last_duration_ms: 1.234,
    last_error: null,
    last_error_at: null,
    ...extra,
  }) satisfies LoopStatus;

const base = { service: "oyster", version: "1.2.3", pid: 42, startedAt: 0, shuttingDown: false };

test("healthy while every heartbeat is within its unhealthy_after", () => {
  const r = healthReport({ ...base, now: 10_000, loops: [loop("scheduler", 9_000), loop("reaper", 8_000)] });
  expect(r.code).toBe(200);
  expect(r.body.status).toBe("healthy");
  expect(r.body.uptime_s).toBe(10);
  expect(r.body.loops.reaper).toMatchObject({ healthy: true, last_heartbeat_age_s: 2, cycles: 3 });
  expect(healthReason(r.body)).toBe("healthy: 2 loop(s) turning, up 10s");
});

test("one stale loop makes the whole process unhealthy and is named with its last error", () => {
  const r = healthReport({
    ...base,
    now: 10_000,
    loops: [loop("scheduler", 9_900), loop("reaper", 7_999, 2_000, { last_error: "node a: timeout" })],
  });
  expect(r.code).toBe(503);
  expect(r.body.unhealthy).toEqual(["reaper"]);
  expect(r.body.loops.scheduler?.healthy).toBe(true);
  expect(healthReason(r.body)).toBe(
    "unhealthy: reaper (last heartbeat 2.001s ago, limit 2s, last error: node a: timeout)",
  );
});

test("a loop that never beat is unhealthy; shutting down wins over everything", () => {
  expect(healthReport({ ...base, now: 1, loops: [loop("probe", null)] }).body.status).toBe("unhealthy");
  const r = healthReport({ ...base, now: 1, shuttingDown: true, loops: [loop("probe", 1)] });
  expect(r).toMatchObject({ code: 503, body: { status: "shutting_down" } });
  expect(healthReason(r.body)).toBe("shutting down");
});

test("a store in fault makes the verdict 503 with store disk_full, and says why", () => {
  const store = {
    state: "disk_full" as const,
    since: 5_000,
    last_error: "database or disk is full",
    errors: { disk_full: 3, io_error: 0 },
  };
  const r = healthReport({ ...base, now: 10_000, loops: [loop("scheduler", 9_000)], store });
  expect(r.code).toBe(503);
  expect(r.body.store).toBe("disk_full");
  expect(r.body.store_error).toEqual({ since: 5_000, message: "database or disk is full" });
  expect(healthReason(r.body)).toContain("store disk full (database or disk is full)");
  const ok = healthReport({
    ...base,
    now: 10_000,
    loops: [loop("scheduler", 9_000)],
    store: { ...store, state: "ok", since: null },
  });
  expect(ok.code).toBe(200);
  expect(ok.body.store).toBe("ok");
  expect(ok.body.store_error).toBeUndefined();
});
