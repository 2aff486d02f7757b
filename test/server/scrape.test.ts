import { expect, test } from "bun:test";
import { createScraper } from "../../src/server/scrape.ts";
import { urlHost } from "../../src/server/serve.ts";
import { idleFleet } from "../helpers/fleet.ts";

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
        return idleFleet(pending);
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
