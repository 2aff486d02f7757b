import { expect, test } from "bun:test";
import { metrics } from "../../src/metrics.ts";
import { createScraper } from "../../src/server/scrape.ts";
import type { FleetSnapshot } from "../../src/server/snapshot.ts";

const empty: FleetSnapshot = {
  at: 0,
  tasks: {
    pending: 0,
    dispatched: 0,
    running: 0,
    succeeded: 0,
    failed: 0,
    dead: 0,
    blocked: 0,
    cancelled: 0,
  },
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
};

// A metric added to src/metrics.ts but not rendered by src/server/scrape.ts would be counted and
// never seen; this makes forgetting the second step fail here.
test("every counter and histogram in src/metrics.ts is on /metrics, with its HELP and TYPE", () => {
  const page = createScraper({
    service: "oyster",
    startedAt: 0,
    now: () => 1_000,
    loops: () => [],
    snapshot: () => empty,
    shuttingDown: () => false,
  })();
  const all = Object.values(metrics);
  expect(all.length).toBeGreaterThan(0);
  for (const m of all) {
    expect(page).toContain(`# HELP ${m.name} `);
    expect(page).toMatch(new RegExp(`^# TYPE ${m.name} (counter|histogram)$`, "m"));
  }
});
