import { describe, expect, test } from "bun:test";
import {
  classifyLaunchFailure,
  launchBreakers,
  launchFailureCharge,
  lostRunStep,
  MAX_START_TRIES,
  nextLaunchStep,
  nodeDeclaredDead,
} from "../../src/dispatch/launch.ts";

describe("classifyLaunchFailure", () => {
  test("a full disk, a permission error or a file where the run dir should be is the node's, and nothing started", () => {
    for (const message of [
      `node "n1": ENOSPC: no space left on device, write`,
      `node "n1": EACCES: permission denied, mkdir '/home/o/runs/x'`,
      `node "n1": ENOTDIR: not a directory, mkdir '/home/o/runs/x'`,
      `node "n1": EROFS: read-only file system, open '/home/o/runs/x/spec.md'`,
    ])
      expect(classifyLaunchFailure({ kind: "command", message })).toEqual({
        blame: "node",
        maybeStarted: false,
      });
  });

  test("a lost or garbled answer is the node's, and the run may have started", () => {
    for (const kind of ["timeout", "closed", "protocol"] as const)
      expect(classifyLaunchFailure({ kind, message: "x" })).toEqual({ blame: "node", maybeStarted: true });
  });

  test("a start already in progress on the node, or one that never wrote its status in time, may have started", () => {
    for (const message of [
      `node "n1": run r1 is already being started on this node (no status yet)`,
      `node "n1": timed out waiting for run r1 to write status.json`,
    ])
      expect(classifyLaunchFailure({ kind: "command", message })).toEqual({
        blame: "node",
        maybeStarted: true,
      });
  });

  test("a connection that never opened is the node's and started nothing", () => {
    for (const kind of ["connect", "host_key", "auth"] as const)
      expect(classifyLaunchFailure({ kind, message: "refused" })).toEqual({
        blame: "node",
        maybeStarted: false,
      });
  });

  test("only the executor's own configuration counts on the fleet-wide executor breaker", () => {
    expect(classifyLaunchFailure({ kind: "local", message: 'executor "glm" is not configured' })).toEqual({
      blame: "executor",
      maybeStarted: false,
    });
    expect(classifyLaunchFailure({ kind: "command", message: "unknown placeholder {nope} in argv" })).toEqual(
      {
        blame: "executor",
        maybeStarted: false,
      },
    );
  });

  test("an error from a broken agent or binary that names nothing known is charged to the node", () => {
    expect(classifyLaunchFailure({ kind: "command", message: "oyster exec start exited 139" }).blame).toBe(
      "node",
    );
  });
});

describe("nextLaunchStep", () => {
  const lost = { blame: "node", maybeStarted: true } as const;
  test("nothing can be running: the task is requeued without an attempt", () => {
    expect(nextLaunchStep({ blame: "node", maybeStarted: false }, 1, 10_000)).toEqual({ kind: "requeue" });
  });
  test("a lost answer is asked again with the same run id while time and tries are left", () => {
    expect(nextLaunchStep(lost, 1, 2_500)).toEqual({ kind: "retry", timeoutMs: 2_500 });
  });
  test("past the deadline or the try budget the run stays launching, never requeued", () => {
    expect(nextLaunchStep(lost, 1, 0)).toEqual({ kind: "unresolved" });
    expect(nextLaunchStep(lost, MAX_START_TRIES, 10_000)).toEqual({ kind: "unresolved" });
  });
  test("a refused connection after a lost answer proves nothing about the first request: never requeued", () => {
    const refused = { blame: "node", maybeStarted: false } as const;
    expect(nextLaunchStep(refused, 2, 2_500, true)).toEqual({ kind: "retry", timeoutMs: 2_500 });
    expect(nextLaunchStep(refused, MAX_START_TRIES, 2_500, true)).toEqual({ kind: "unresolved" });
  });
});

describe("lost runs and dead nodes", () => {
  test("a lost run is released only when the node confirms its group is gone", () => {
    expect(lostRunStep("gone")).toBe("release");
    expect(lostRunStep("still_lost")).toBe("hold");
    expect(lostRunStep("unknown")).toBe("hold");
  });
  test("a node is declared dead only after the grace, counted from when it last answered or the run began", () => {
    expect(nodeDeclaredDead(1_000, 0, 60_000, 60_000)).toBe(false);
    expect(nodeDeclaredDead(1_000, 0, 61_000, 60_000)).toBe(true);
    expect(nodeDeclaredDead(null, 50_000, 100_000, 60_000)).toBe(false);
    expect(nodeDeclaredDead(null, 50_000, 110_000, 60_000)).toBe(true);
  });
  test("a grace of 0 never declares a node dead", () => {
    expect(nodeDeclaredDead(0, 0, 1e12, 0)).toBe(false);
  });
});

describe("which breaker a launch answers to", () => {
  const l = { node: "n1", executor: "claude" };

  test("a success counts on the node's breaker and the executor's", () => {
    expect(launchBreakers(l)).toEqual(["node:n1", "executor:claude"]);
  });

  test("a failure charges only the one to blame, under its reason", () => {
    expect(launchFailureCharge("node", l)).toEqual({ reason: "node_failed", breaker: "node:n1" });
    expect(launchFailureCharge("executor", l)).toEqual({
      reason: "executor_failed",
      breaker: "executor:claude",
    });
  });
});
