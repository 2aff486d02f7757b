import { describe, expect, test } from "bun:test";
import { nodeReason } from "../../src/dispatch/node-reason.ts";

describe("a node's REASON", () => {
  test("an online node taking work has none", () => {
    expect(
      nodeReason({ online: 1, draining: 0, last_probe_at: 1, last_error: null, breaker: "CLOSED" }),
    ).toBe("-");
  });
  test("offline names the error that took it offline, on one line", () => {
    expect(
      nodeReason({
        online: 0,
        draining: 0,
        last_probe_at: 1,
        last_error: "connect ECONNREFUSED\n127.0.0.1:22",
      }),
    ).toBe("offline: connect ECONNREFUSED 127.0.0.1:22");
  });
  test("a node never probed is not called offline", () => {
    expect(nodeReason({ online: 0, draining: 0, last_probe_at: null, last_error: null })).toBe("-");
  });
  test("draining says whether it is idle yet, and an open breaker is named", () => {
    expect(nodeReason({ online: 1, draining: 1, last_error: null, running: 2, breaker: "HALF_OPEN" })).toBe(
      "draining (2 running); breaker HALF_OPEN",
    );
    expect(nodeReason({ online: 1, draining: true, last_error: null, running: 0 })).toBe("draining (idle)");
  });
});
