import { expect, test } from "bun:test";
import { metrics } from "../../src/metrics.ts";
import { createScraper } from "../../src/server/scrape.ts";
import { idleFleet } from "../helpers/fleet.ts";

// A metric added to src/metrics.ts but not rendered by src/server/scrape.ts would be counted and
// never seen; this makes forgetting the second step fail here.
test("every counter and histogram in src/metrics.ts is on /metrics, with its HELP and TYPE", () => {
  const page = createScraper({
    service: "oyster",
    startedAt: 0,
    now: () => 1_000,
    loops: () => [],
    snapshot: () => idleFleet(),
    shuttingDown: () => false,
  })();
  const all = Object.values(metrics);
  expect(all.length).toBeGreaterThan(0);
  for (const m of all) {
    expect(page).toContain(`# HELP ${m.name} `);
    expect(page).toMatch(new RegExp(`^# TYPE ${m.name} (counter|histogram)$`, "m"));
  }
});
