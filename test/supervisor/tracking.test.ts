import { describe, expect, test } from "bun:test";
import { type ProcStat, parseStat } from "../../src/os/proc.ts";
import { collect, MARKER_VAR, markedService, markerValue } from "../../src/supervisor/tracking.ts";

describe("parseStat", () => {
  test("reads state, ppid, pgid, sid and start time, even with ') ' in the command name", () => {
    const rest = "S 10 20 30 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 98765 1000 10";
    expect(parseStat(42, `42 (we) ird) ${rest}`)).toEqual({
      pid: 42,
      state: "S",
      ppid: 10,
      pgid: 20,
      sid: 30,
      starttime: 98765,
    });
  });
  test("garbage is null", () => {
    expect(parseStat(1, "nonsense")).toBeNull();
    expect(parseStat(1, "1 (x) S 1 2")).toBeNull();
  });
});

describe("service markers", () => {
  const dir = "/srv/a#b/.oyster";
  test("name the service of this state dir only", () => {
    const env = ["PATH=/bin", `${MARKER_VAR}=${markerValue(dir, "web")}`];
    expect(markedService(env, dir)).toBe("web");
    expect(markedService(env, "/srv/a")).toBeNull();
    expect(markedService(["PATH=/bin"], dir)).toBeNull();
  });
});

describe("collect", () => {
  const stat = (pid: number, pgid: number, starttime: number, state = "S"): ProcStat => ({
    pid,
    state,
    ppid: 1,
    pgid,
    sid: pgid,
    starttime,
  });
  // Pids far above pid_max: no /proc entry, so only the group decides.
  const P = 1 << 30;
  test("a recorded group counts while its leader is the recorded process or gone", () => {
    const stats = [stat(P, P, 500), stat(P + 1, P, 600), stat(P + 2, P + 2, 1)];
    const t = { stateDir: "/x", name: "web", pgid: P };
    expect(collect({ ...t, leaderStart: 500 }, stats).map((s) => s.pid)).toEqual([P, P + 1]);
    // The pid was recycled by another process: not ours, not signalled.
    expect(collect({ ...t, leaderStart: 499 }, stats)).toEqual([]);
    // The leader is gone; its group's survivors are still ours (a pgid is not reused meanwhile).
    expect(collect({ ...t, leaderStart: 499 }, stats.slice(1)).map((s) => s.pid)).toEqual([P + 1]);
  });
  test("zombies are not counted", () => {
    expect(collect({ stateDir: "/x", name: "w", pgid: P }, [stat(P, P, 1, "Z")])).toEqual([]);
  });
});
