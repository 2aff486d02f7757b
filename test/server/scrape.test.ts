import { expect, test } from "bun:test";
import { createScraper } from "../../src/server/scrape.ts";
import { urlHost } from "../../src/server/serve.ts";
import type { FleetSnapshot } from "../../src/server/snapshot.ts";

const snapshot = (pending: number): FleetSnapshot => ({
  at: 0,
  tasks: { pending, dispatched: 0, running: 0, succeeded: 0, failed: 0, dead: 0, blocked: 0, cancelled: 0 },
  nodes: [],
  breakers: [],
  window: {
    total: 0,
    success: 0,
    failed: 0,
    rate: null,
    failure_reasons: {},
    refusals: {},
    overload_causes: {},
    window_s: 3600,
  },
  drain: false,
  pause: false,
  reserve: { fleet: 0, nodes: {} },
  pools: [],
});

test("the page is rendered at most once per cacheMs, again after a backward clock step or at shutdown", () => {
  let clock = 10_000_000;
  let pending = 1;
  let shuttingDown = false;
  let snapshots = 0;
  const scrape = createScraper(
    {
      service: "oyster",
      startedAt: 0,
      now: () => clock,
      loops: () => [],
      snapshot: () => {
        snapshots++;
        return snapshot(pending);
      },
      shuttingDown: () => shuttingDown,
    },
    1_000,
  );
  expect(scrape()).toContain('oyster_tasks{status="pending"} 1');
  pending = 2;
  clock += 500;
  expect(scrape()).toContain('oyster_tasks{status="pending"} 1');
  expect(snapshots).toBe(1);
  clock += 500;
  expect(scrape()).toContain('oyster_tasks{status="pending"} 2');
  pending = 3;
  clock -= 3_600_000; // NTP stepped the clock back an hour
  expect(scrape()).toContain('oyster_tasks{status="pending"} 3');
  shuttingDown = true;
  expect(scrape()).toContain("oyster_up 0");
});

test("IPv6 hosts are bracketed once in URLs", () => {
  expect(urlHost("::1")).toBe("[::1]");
  expect(urlHost("[::1]")).toBe("[::1]");
  expect(urlHost("127.0.0.1")).toBe("127.0.0.1");
});
