import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { runAgent } from "../../src/node/agent.ts";
import { abandonRun, claimRun, START_SETTLE_MS } from "../../src/node/claim.ts";
import { killRun } from "../../src/node/kill.ts";
import { pruneRuns } from "../../src/node/read.ts";
import { startRun } from "../../src/node/start.ts";
import { listRuns, readStatus, readStatusFile } from "../../src/node/status.ts";
import { groupAlive, pidAlive } from "../../src/os/process-group.ts";
import type { RunStatus, StartRequest } from "../../src/protocol/messages.ts";
import { LocalTransport } from "../../src/remote/local.ts";
import { tempDir, waitFor } from "../helpers/cli.ts";

/** Node side with real detached wrappers and executors (the wrapper runs from source here). */
let home: { path: string; cleanup: () => void };
const started: RunStatus[] = [];

beforeAll(() => {
  process.env.OYSTER_HEARTBEAT_MS = "50";
  home = tempDir("oyster-node-");
});

afterAll(() => {
  // Nothing may outlive the tests: every wrapper and executor group we started.
  for (const s of listRuns(home.path)) {
    for (const pid of [s.pid, s.wrapper_pid]) {
      if (!pid) continue;
      try {
        process.kill(-pid, "SIGKILL");
      } catch {}
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }
  home.cleanup();
});

let n = 0;
function req(argv: string[], extra: Partial<StartRequest> = {}): StartRequest {
  n++;
  return { run_id: `run-${n}`, task_id: `task-${n}`, spec: `# spec ${n}\n`, argv, vars: {}, ...extra };
}

async function start(r: StartRequest): Promise<RunStatus> {
  const s = await startRun(home.path, r);
  started.push(s);
  return s;
}

const final = (id: string) =>
  waitFor(`run ${id} to end`, () => {
    const s = readStatus(home.path, id);
    return s && ["succeeded", "failed", "killed", "lost"].includes(s.state) ? s : null;
  });

describe("start", () => {
  test("runs the executor detached, heartbeats, records success and output", async () => {
    const r = req(["sh", "-c", 'echo "out $OYSTER_RUN_ID $OYSTER_TASK_ID $(pwd)"; echo err >&2; sleep 0.3'], {
      env: { EXTRA: "x" },
    });
    const first = await start(r);
    // start returns as soon as the wrapper is spawned; the wrapper then records the executor's pid.
    expect(["starting", "running"]).toContain(first.state);
    expect(first.wrapper_pid).toBeGreaterThan(0);
    const dir = join(home.path, "runs", r.run_id);
    const s = await waitFor("running", () => {
      const now = readStatusFile(dir);
      return now?.state === "running" ? now : undefined;
    });
    expect(s.pid).toBeGreaterThan(0);
    expect(s.wrapper_version).toMatch(/^oyster /);
    expect(readFileSync(join(dir, "spec.md"), "utf8")).toBe(r.spec);
    await waitFor("a heartbeat", () => (readStatusFile(dir)?.heartbeat_at ?? 0) > s.heartbeat_at);
    const end = await final(r.run_id);
    expect(end).toMatchObject({ state: "succeeded", exit_code: 0 });
    expect(end.finished_at).toBeGreaterThanOrEqual(end.started_at);
    const out = readFileSync(join(dir, "output.log"), "utf8");
    expect(out).toContain(`out ${r.run_id} ${r.task_id} ${dir}`);
    expect(out).toContain("err");
  });

  test("non-zero exit is failed with its code", async () => {
    const r = req(["sh", "-c", "exit 3"]);
    await start(r);
    expect(await final(r.run_id)).toMatchObject({ state: "failed", exit_code: 3 });
  });

  test("a missing executor fails with 127 and says why in output.log", async () => {
    const r = req(["/nonexistent/agent-xyz", "{spec}"]);
    const s = await start(r);
    const end = s.state === "failed" ? s : await final(r.run_id);
    expect(end).toMatchObject({ state: "failed", exit_code: 127 });
    expect(readFileSync(join(home.path, "runs", r.run_id, "output.log"), "utf8")).toContain("agent-xyz");
  });

  test("placeholders are substituted per argument and never reach a shell", async () => {
    const marker = join(home.path, "pwned");
    const evil = `$(touch ${marker}); \`touch ${marker}\` ; rm -rf ~ 'q' "d"\nline`;
    const r = req(["printf", "%s|%s|%s\\n", "{task_id}", "{spec}", "{attempt}"], {
      task_id: evil,
      vars: { task_id: evil, attempt: "2" },
    });
    await start(r);
    await final(r.run_id);
    const dir = join(home.path, "runs", r.run_id);
    expect(readFileSync(join(dir, "output.log"), "utf8")).toBe(`${evil}|${join(dir, "spec.md")}|2\n`);
    expect(existsSync(marker)).toBe(false);
  });

  test("starting the same run id twice does not launch twice", async () => {
    const r = req(["sh", "-c", "echo once >> count; sleep 0.2"]);
    const a = await start(r);
    const b = await startRun(home.path, r);
    expect(b.wrapper_pid).toBe(a.wrapper_pid);
    await final(r.run_id);
    expect(readFileSync(join(home.path, "runs", r.run_id, "count"), "utf8")).toBe("once\n");
  });

  test("an abandoned run id never starts: a late start is refused, the abandon is repeatable", async () => {
    const r = req(["sh", "-c", "echo ran >> count"]);
    expect(abandonRun(home.path, r.run_id)).toMatchObject({ abandoned: true, status: null });
    // The start that was held up on the way arrives now: refused, nothing runs.
    await expect(startRun(home.path, r)).rejects.toThrow(/abandoned by the controller/);
    const dir = join(home.path, "runs", r.run_id);
    expect(existsSync(join(dir, "count"))).toBe(false);
    expect(existsSync(join(dir, "request.json"))).toBe(false);
    // Its answer lost, the controller asks again: the same answer.
    expect(abandonRun(home.path, r.run_id).abandoned).toBe(true);
    // Never listed (it has no status to report), never pruned (the claim is the fence).
    expect(listRuns(home.path, { runs: [r.run_id] })).toEqual([]);
    expect(listRuns(home.path).map((s) => s.run_id)).not.toContain(r.run_id);
    expect(pruneRuns(home.path, { runs: [r.run_id] })).toEqual({ removed: [], kept: [], missing: 0 });
    expect(readFileSync(join(dir, "claim"), "utf8")).toBe("abandoned");
  });

  test("a start that claimed the run id first wins over an abandon", async () => {
    const r = req(["sh", "-c", "sleep 0.2"]);
    const a = await start(r);
    const ab = abandonRun(home.path, r.run_id);
    expect(ab.abandoned).toBe(false);
    expect(ab.status?.wrapper_pid).toBe(a.wrapper_pid);
    expect(ab.note).toMatch(/exists on this node/);
    await final(r.run_id);
  });

  test("start and abandon racing on the claim: the loser sees the winner, whoever it is", () => {
    const a = join(home.path, "runs", "race-a");
    expect(claimRun(a, "abandoned")).toEqual({ won: true, holder: "abandoned" });
    expect(claimRun(a, "start")).toEqual({ won: false, holder: "abandoned" });
    const b = join(home.path, "runs", "race-b");
    expect(claimRun(b, "start")).toEqual({ won: true, holder: "start" });
    expect(claimRun(b, "abandoned")).toEqual({ won: false, holder: "start" });
    // A start under way (claimed, no status yet): not abandoned...
    expect(abandonRun(home.path, "race-b")).toMatchObject({ abandoned: false, status: null });
    // ...until it has held the claim past START_SETTLE_MS without a status (it died, or the
    // status was deleted): the start claim alone keeps any later start out.
    const old = (Date.now() - START_SETTLE_MS - 1_000) / 1000;
    utimesSync(join(b, "claim"), old, old);
    expect(abandonRun(home.path, "race-b")).toMatchObject({ abandoned: true, status: null });
    // A start whose claim is taken by an abandon between its status check and its claim.
    const r = req(["sh", "-c", "echo ran >> count"]);
    claimRun(join(home.path, "runs", r.run_id), "abandoned");
    return expect(startRun(home.path, r)).rejects.toThrow(/abandoned by the controller/);
  });

  test("a start that cannot spawn its wrapper gives its claim back: the run id reads as never started", async () => {
    const r = req(["true"]);
    await expect(startRun(home.path, r, { self: ["/nonexistent/oyster"] })).rejects.toThrow(
      /could not start the oyster wrapper/,
    );
    const dir = join(home.path, "runs", r.run_id);
    expect(existsSync(join(dir, "claim"))).toBe(false);
    expect(existsSync(join(dir, "request.json"))).toBe(false);
    expect(abandonRun(home.path, r.run_id).abandoned).toBe(true);
  });

  test("bad run ids are refused", async () => {
    await expect(startRun(home.path, { ...req(["true"]), run_id: "../../etc" })).rejects.toThrow(
      /invalid run id/,
    );
  });
});

describe("kill and lost", () => {
  test("kill stops the whole process group and records killed", async () => {
    const r = req(["sh", "-c", "sleep 30 & sleep 30; wait"]);
    const s = await start(r);
    const res = await killRun(home.path, r.run_id, 2_000);
    expect(res.status?.state).toBe("killed");
    expect(pidAlive(s.pid)).toBe(false);
    // Zombies awaiting a slow init do not count (groupAlive reads /proc).
    expect(groupAlive(s.pid!)).toBe(false);
    // idempotent
    expect((await killRun(home.path, r.run_id, 100)).note).toMatch(/already killed/);
  });

  test("an executor that ignores SIGTERM is SIGKILLed after the grace", async () => {
    const r = req(["sh", "-c", "trap '' TERM; sleep 30 & wait; sleep 30"]);
    await start(r);
    const t0 = Date.now();
    const res = await killRun(home.path, r.run_id, 300);
    expect(res.status?.state).toBe("killed");
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  test("unknown run id is not an error", async () => {
    expect(await killRun(home.path, "no-such-run", 100)).toMatchObject({ found: false });
  });

  test("a wrapper killed with SIGKILL makes list report lost (the file still says running)", async () => {
    const r = req(["sleep", "30"]);
    const s = await start(r);
    process.kill(s.wrapper_pid!, "SIGKILL");
    await waitFor("wrapper gone", () => !pidAlive(s.wrapper_pid));
    const listed = listRuns(home.path).find((x) => x.run_id === r.run_id);
    expect(listed?.state).toBe("lost");
    expect(["starting", "running"]).toContain(
      String(readStatusFile(join(home.path, "runs", r.run_id))?.state),
    );
    // kill still stops the orphaned executor and records the end.
    const res = await killRun(home.path, r.run_id, 500);
    expect(res.status?.state).toBe("killed");
    expect(pidAlive(s.pid)).toBe(false);
  });
});

describe("agent session (in-process)", () => {
  test("requests, errors and pushed run_finished", async () => {
    const input = new PassThrough();
    const lines: Record<string, unknown>[] = [];
    const done = runAgent({
      home: home.path,
      input,
      write: (l) => lines.push(JSON.parse(l)),
      pollMs: 20,
    });
    const ask = async (msg: Record<string, unknown>) => {
      input.write(`${JSON.stringify(msg)}\n`);
      return waitFor(`reply ${msg.id}`, () => lines.find((l) => l.id === msg.id));
    };
    expect(await ask({ id: 1, op: "ping" })).toEqual({ id: 1, ok: true, result: "pong" });
    expect(((await ask({ id: 2, op: "version" })) as { result: string }).result).toMatch(/^oyster /);
    const r = req(["sh", "-c", "sleep 0.2; exit 4"]);
    const st = (await ask({ id: 3, op: "start", req: r })) as { ok: boolean; result: RunStatus };
    expect(st.ok).toBe(true);
    expect(["starting", "running"]).toContain(st.result.state);
    const ev = (await waitFor("run_finished", () =>
      lines.find((l) => l.event === "run_finished" && (l.status as RunStatus).run_id === r.run_id),
    )) as { status: RunStatus };
    expect(ev.status).toMatchObject({ state: "failed", exit_code: 4 });
    const list = (await ask({ id: 4, op: "list" })) as { result: RunStatus[] };
    expect(list.result.some((x) => x.run_id === r.run_id)).toBe(true);
    expect(await ask({ id: 5, op: "nope" })).toMatchObject({
      ok: false,
      error: expect.stringContaining("unknown op"),
    });
    expect(await ask({ id: 6, op: "start", req: { run_id: ".." } })).toMatchObject({ ok: false });
    expect(await ask({ id: 7, op: "kill", run_id: "ghost" })).toMatchObject({
      ok: true,
      result: { found: false },
    });
    const res = (await ask({ id: 8, op: "resources" })) as { result: { cpus: number } };
    expect(res.result.cpus).toBeGreaterThan(0);
    input.end();
    await done;
  });
});

describe("LocalTransport", () => {
  test("start, onRunFinished, list, kill, resources, version", async () => {
    const t = new LocalTransport("local", { home: home.path, pollMs: 20, killGraceMs: 500 });
    const seen: RunStatus[] = [];
    t.onRunFinished((s) => seen.push(s));
    const r = req(["sh", "-c", "sleep 0.1"]);
    const s = await t.start(r);
    expect(["starting", "running"]).toContain(s.state);
    await waitFor("pushed end", () => seen.find((x) => x.run_id === r.run_id));
    expect(seen.find((x) => x.run_id === r.run_id)?.state).toBe("succeeded");
    const long = req(["sleep", "30"]);
    await t.start(long);
    await t.kill(long.run_id);
    await waitFor("pushed kill", () => seen.find((x) => x.run_id === long.run_id));
    expect(seen.find((x) => x.run_id === long.run_id)?.state).toBe("killed");
    expect((await t.list()).length).toBeGreaterThan(1);
    expect((await t.resources()).mem_total_mb).toBeGreaterThan(0);
    expect(await t.version()).toMatch(/^oyster /);
    await t.close();
    await expect(t.list()).rejects.toMatchObject({ kind: "closed" });
  });
});
