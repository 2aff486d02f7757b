import { expect, test } from "bun:test";
import { faultBackoffMs } from "../../src/remote/ssh/agent-session.ts";

test("a session that keeps breaking the protocol is reopened ever more slowly, up to a minute", () => {
  expect([0, 1, 2, 3, 6, 7, 20].map(faultBackoffMs)).toEqual([
    0, 1_000, 2_000, 4_000, 32_000, 60_000, 60_000,
  ]);
});
