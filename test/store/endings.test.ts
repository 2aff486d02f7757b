import { describe, expect, test } from "bun:test";
import { formatEndings } from "../../src/cli/run-summary.ts";
import { taskLimits } from "../../src/cli/task-limits.ts";
import { revivalsLeft } from "../../src/dispatch/run-end.ts";
import { blockDependents, cancelRequestedRuns, revivable, reviveDeadTasks } from "../../src/store/healing.ts";
import { endings } from "../../src/store/progress.ts";
import { claimRun, finishRun, markRunning } from "../../src/store/runs.ts";
import { cancelTask, retryTask } from "../../src/store/tasks.ts";
import { addNode, addTask, memoryStore } from "../helpers/store.ts";

const policy = { backoffMs: 1_000, maxBackoffMs: 10_000 };
const row = (s: ReturnType<typeof memoryStore>, id: string) =>
  s.db.query("SELECT status, blocked_by, updated_at FROM tasks WHERE task_id = ?").get(id) as {
    status: string;
    blocked_by: string | null;
    updated_at: number;
  };

/** a (running on n1) ← b ← c, and d on its own. */
function chain() {
  const s = memoryStore();
  addNode(s, "n1");
  addTask(s, { id: "a", max_attempts: 1 });
  addTask(s, { id: "b", deps: ["a"] });
  addTask(s, { id: "c", deps: ["b"] });
  addTask(s, { id: "d" });
  const c = s.tx((db) => claimRun(db, "a", "n1", null, 2_000));
  if (!c.ok) throw new Error("claim failed");
  s.tx((db) => markRunning(db, c.run.run_id, { pid: 1, started_at: 2_000, heartbeat_at: 2_000 }, 2_000));
  return { s, runId: c.run.run_id };
}

describe("dependents are blocked where a task ends", () => {
  test("a run that kills its task blocks the whole chain in that transaction, naming each culprit", () => {
    const { s, runId } = chain();
    s.tx((db) => finishRun(db, runId, { state: "failed", exit_code: 1 }, policy, 3_000));
    expect(row(s, "a").status).toBe("dead");
    expect(row(s, "b")).toEqual({ status: "blocked", blocked_by: "a", updated_at: 3_000 });
    expect(row(s, "c")).toEqual({ status: "blocked", blocked_by: "b", updated_at: 3_000 });
    expect(row(s, "d").status).toBe("pending");
  });

  test("blockDependents touches only pending dependents and returns what it blocked", () => {
    const s = memoryStore();
    addTask(s, { id: "a", status: "cancelled" });
    addTask(s, { id: "b", deps: ["a"], status: "succeeded" });
    addTask(s, { id: "c", deps: ["a"] });
    expect(s.tx((db) => blockDependents(db, "a", 5_000, "test"))).toEqual([
      { task_id: "c", blocked_by: "a" },
    ]);
    expect(row(s, "b").status).toBe("succeeded");
  });

  test("cancelling a task without a run cancels it now and blocks its dependents; retry unblocks them", () => {
    const s = memoryStore();
    addTask(s, { id: "a" });
    addTask(s, { id: "b", deps: ["a"] });
    expect(s.tx((db) => cancelTask(db, "a", 2_000))).toEqual({ ok: true, from: "pending", to: "cancelled" });
    expect(row(s, "b")).toMatchObject({ status: "blocked", blocked_by: "a" });
    expect(s.tx((db) => retryTask(db, "a", 3_000))).toEqual({ ok: true, from: "cancelled", to: "pending" });
    expect(row(s, "b")).toMatchObject({ status: "pending", blocked_by: null });
  });
});

describe("cancel of a running task", () => {
  test("is a request until the run ends; whatever ends the run, the task is cancelled", () => {
    const { s, runId } = chain();
    expect(s.tx((db) => cancelTask(db, "a", 2_500))).toEqual({
      ok: true,
      from: "running",
      to: "cancelling",
      node: "n1",
    });
    expect(row(s, "a").status).toBe("running");
    expect(s.tx((db) => cancelRequestedRuns(db))).toEqual([{ run_id: runId, task_id: "a", node: "n1" }]);
    // The kill's own report (killed → failed) arrives first: still a cancel, not a retry.
    s.tx((db) => finishRun(db, runId, { state: "failed", reason: "killed" }, policy, 3_000));
    expect(row(s, "a").status).toBe("cancelled");
    expect(
      (s.db.query("SELECT state FROM runs WHERE run_id = ?").get(runId) as { state: string }).state,
    ).toBe("cancelled");
    expect(row(s, "b")).toMatchObject({ status: "blocked", blocked_by: "a" });
    expect(s.tx((db) => cancelRequestedRuns(db))).toEqual([]);
  });
});

describe("auto_revive within max_attempts", () => {
  test("a task with its own max_attempts is never revived past it; one on the default is", () => {
    const s = memoryStore();
    addTask(s, { id: "own", status: "dead" });
    addTask(s, { id: "default", status: "dead" });
    s.db.query("UPDATE tasks SET attempts = 1, max_attempts = 1, last_reason = 'timeout'").run();
    s.db.query("UPDATE tasks SET own_max_attempts = 1 WHERE task_id = 'own'").run();
    expect(s.tx((db) => revivable(db, ["timeout"], 1)).map((r) => r.task_id)).toEqual(["default"]);
    expect(s.tx((db) => reviveDeadTasks(db, ["timeout"], 1, 2_000))).toEqual(["default"]);
    expect(row(s, "own").status).toBe("dead");
    expect(row(s, "default").status).toBe("pending");
  });

  test("the guardian revives exactly the dead tasks tasks show gives revivals left", () => {
    const s = memoryStore();
    const cases: [string, number | null, number, number][] = [
      // id, own_max_attempts, attempts, revivals
      ["d-fresh", null, 3, 0],
      ["d-spent", null, 3, 2],
      ["own-spent", 1, 1, 0],
      ["own-raised", 4, 2, 0],
      ["own-raised-spent", 4, 2, 2],
    ];
    for (const [id, own, attempts, revivals] of cases) {
      addTask(s, { id, status: "dead" });
      s.db
        .query(
          "UPDATE tasks SET own_max_attempts = ?, attempts = ?, revivals = ?, max_attempts = ?, last_reason = 'lost' WHERE task_id = ?",
        )
        .run(own, attempts, revivals, attempts, id);
    }
    const chosen = s.tx((db) => revivable(db, ["lost"], 2)).map((r) => r.task_id);
    const shown = cases
      .filter(
        ([, own_max_attempts, attempts, revivals]) =>
          revivalsLeft({ own_max_attempts, attempts, revivals, max_attempts: attempts }, 2) > 0,
      )
      .map(([id]) => id);
    expect(chosen.sort()).toEqual(shown.sort());
    expect(chosen.sort()).toEqual(["d-fresh", "own-raised"]);
  });

  test("tasks show's figures: effective timeout and its source, attempts and revivals left", () => {
    const config = {
      timeouts: { task_max: 7_200_000, estimate_factor: 2, long_running: 1, startup: 1 },
      retry: { max_attempts: 3, backoff: 1, max_backoff: 1, auto_revive: 1 },
    } as unknown as Parameters<typeof taskLimits>[1]; // only the fields taskLimits reads
    const base = { attempts: 1, max_attempts: 3, own_max_attempts: null, revivals: 0 };
    expect(taskLimits({ ...base, timeout_ms: 5_000, estimated_minutes: 3 }, config)).toEqual({
      effective_timeout_ms: 5_000,
      timeout_from: "spec",
      attempts_left: 2,
      revivals_left: 1,
    });
    expect(
      taskLimits({ ...base, timeout_ms: null, estimated_minutes: 3, own_max_attempts: 3 }, config),
    ).toMatchObject({ effective_timeout_ms: 360_000, timeout_from: "estimate", revivals_left: 0 });
    expect(
      taskLimits({ ...base, timeout_ms: null, estimated_minutes: null, attempts: 4 }, config),
    ).toMatchObject({ effective_timeout_ms: 7_200_000, timeout_from: "task_max", attempts_left: 0 });
  });
});

describe("the --until-done summary", () => {
  test("names each dead task with its reason and each blocked one with what it waits on", () => {
    const { s, runId } = chain();
    s.tx((db) => finishRun(db, runId, { state: "failed", exit_code: 1 }, policy, 3_000));
    const text = formatEndings(
      { dead: 1, blocked: 2, pending: 1 },
      s.read((db) => endings(db)),
    );
    expect(text).toBe(
      [
        "done: nothing more can run — 1 dead, 2 blocked, 0 succeeded",
        "  dead     a: exit_nonzero, 1/1 attempts",
        "  blocked  b: waits on a (dead)",
        "  blocked  c: waits on b (blocked)",
        "",
      ].join("\n"),
    );
    expect(formatEndings({ succeeded: 6 }, { dead: [], blocked: [], cancelled: [] })).toBe(
      "done: all 6 task(s) succeeded\n",
    );
  });
});
