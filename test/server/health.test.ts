import { expect, test } from "bun:test";
import type { LoopStatus } from "../../src/loops/loop.ts";
import { healthReason, healthReport, maskPaths, publicHealth } from "../../src/server/health.ts";

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

test("the seed's six fields sit at the top level: oldest heartbeat, the scheduler's cycles", () => {
  const r = healthReport({
    ...base,
    now: 10_900,
    loops: [loop("reaper", 7_500, 9_000, { cycles: 9 }), loop("scheduler", 10_000, 9_000, { cycles: 41 })],
  });
  const { status, service, uptime, last_heartbeat_age, cycle_count, pid } = r.body;
  expect({ status, service, uptime, last_heartbeat_age, cycle_count, pid }).toEqual({
    status: "healthy",
    service: "oyster",
    uptime: 10,
    last_heartbeat_age: 3,
    cycle_count: 41,
    pid: 42,
  });
  // A standalone health server has one loop of its own name: its cycles are the count.
  const one = healthReport({ ...base, now: 1_000, loops: [loop("guardian", null, 2_000, { cycles: 7 })] });
  expect(one.body).toMatchObject({ cycle_count: 7, last_heartbeat_age: 1 });
});

test("maskPaths hides every word with a slash, whatever made the message", () => {
  expect(maskPaths('unable to open database file "/srv/oyster/o.db" (errno 13)')).toBe(
    'unable to open database file "<path>" (errno 13)',
  );
  expect(maskPaths("ENOSPC: no space left on device, write '/var/lib/x y/z.log'")).toBe(
    "ENOSPC: no space left on device, write '<path> <path>'",
  );
  expect(maskPaths("node a: timeout")).toBe("node a: timeout");
  expect(maskPaths("C:\\Users\\op\\o.db and ./rel/p and ~/k")).toBe("<path> and <path> and <path>");
});

test("publicHealth keeps the verdict and numbers and drops paths from every error text", () => {
  const r = healthReport({
    ...base,
    now: 10_000,
    loops: [loop("reaper", 1_000, 2_000, { last_error: "cannot read /home/op/.ssh/id_ed25519: EACCES" })],
    store: {
      state: "disk_full",
      since: 5_000,
      last_error: "SQLITE_FULL at /data/o.db-wal",
      errors: { disk_full: 1, io_error: 0 },
    },
  });
  const pub = publicHealth(r.body);
  expect(pub.status).toBe("unhealthy");
  expect(pub.loops.reaper?.last_error).toBe("cannot read <path> EACCES");
  expect(pub.store_error).toEqual({ since: 5_000, message: "SQLITE_FULL at <path>" });
  expect(JSON.stringify(pub)).not.toContain("/");
  // The original is untouched (the /api/status view).
  expect(r.body.loops.reaper?.last_error).toContain("/home/op/.ssh");
});
