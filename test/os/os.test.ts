import { describe, expect, test } from "bun:test";
import { TimeoutError, until, withTimeout } from "../../src/os/deadline.ts";
import { expandHome } from "../../src/os/paths.ts";
import { childStats, HAVE_PROC } from "../../src/os/proc.ts";
import { groupAlive, pidAlive, signalGroup, signalPid } from "../../src/os/process-group.ts";

test("expandHome expands only a leading ~ or ~/", () => {
  expect(expandHome("~", "/h")).toBe("/h");
  expect(expandHome("~/a/b", "/h")).toBe("/h/a/b");
  expect(expandHome("~user/a", "/h")).toBe("~user/a");
  expect(expandHome("/abs/~/x", "/h")).toBe("/abs/~/x");
  expect(expandHome("rel", "/h")).toBe("rel");
});

test("until answers as soon as the check holds, and false at the deadline", async () => {
  let n = 0;
  expect(await until(() => ++n >= 3, 5_000, 1)).toBe(true);
  expect(n).toBe(3);
  const t0 = Date.now();
  expect(await until(() => false, 50, 5)).toBe(false);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
});

test("withTimeout passes a fast result through and rejects a slow one with a TimeoutError naming it", async () => {
  expect(await withTimeout(Promise.resolve(7), 1_000, "fast")).toBe(7);
  const slow = new Promise<number>(() => {});
  const err = await withTimeout(slow, 20, "the slow thing").catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TimeoutError);
  expect((err as Error).message).toBe("the slow thing timed out after 20 ms");
});

test("a process group is alive while a member runs and gone once it was signalled", async () => {
  const p = Bun.spawn(["sleep", "30"], { detached: true, stdio: ["ignore", "ignore", "ignore"] });
  try {
    expect(await until(() => groupAlive(p.pid), 2_000)).toBe(true);
    expect(pidAlive(p.pid)).toBe(true);
    expect(signalGroup(p.pid, "SIGKILL")).toBe(true);
    await p.exited;
    expect(await until(() => !groupAlive(p.pid), 2_000)).toBe(true);
    expect(pidAlive(p.pid)).toBe(false);
    expect(signalGroup(p.pid, 0)).toBe(false);
  } finally {
    p.kill("SIGKILL");
  }
});

test.if(HAVE_PROC)(
  "childStats lists a child of this process while it runs, with this process as parent",
  async () => {
    const p = Bun.spawn(["sleep", "30"], { stdio: ["ignore", "ignore", "ignore"] });
    try {
      const mine = childStats().find((s) => s.pid === p.pid);
      expect(mine?.ppid).toBe(process.pid);
      p.kill("SIGKILL");
      await p.exited;
      expect(await until(() => !childStats().some((s) => s.pid === p.pid), 2_000)).toBe(true);
    } finally {
      p.kill("SIGKILL");
    }
  },
);

describe("signals never reach the caller's own group, every process, or init", () => {
  test("0, -1, 1, -0 and NaN are refused before any kill", () => {
    for (const pid of [0, -0, 1, -1, Number.NaN]) expect([pid, signalPid(pid, 0)]).toEqual([pid, false]);
    expect(signalGroup(0, 0)).toBe(false);
    expect(signalGroup(1, 0)).toBe(false);
    expect(signalPid(process.pid, 0)).toBe(true);
  });
});
