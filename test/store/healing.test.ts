import { describe, expect, test } from "bun:test";
import {
  blockHopelessTasks,
  cleanupStaleClaims,
  markAlerted,
  missingDependencies,
  newlyCompletedProjects,
  requeueOrphanedTasks,
  reviveDeadTasks,
  syncRunningCounts,
  unalertedRunsLaunchedBefore,
  unblockTasks,
} from "../../src/store/healing.ts";
import { claimRun, finishRun, markRunning } from "../../src/store/runs.ts";
import { addNode, addTask, memoryStore } from "../helpers/store.ts";

const policy = { backoffMs: 1_000, maxBackoffMs: 10_000 };
const status = (s: ReturnType<typeof memoryStore>, id: string) =>
  s.db.query("SELECT status, blocked_by FROM tasks WHERE task_id = ?").get(id) as {
    status: string;
    blocked_by: string | null;
  };

describe("store hygiene", () => {
  test("stale leases and locks of a finished run are removed; a task without a lease is requeued", () => {
    const s = memoryStore();
    addNode(s, "n1");
    addTask(s, { id: "a", paths: ["x.py"] });
    const c = s.tx((db) => claimRun(db, "a", "n1", null, 2_000));
    if (!c.ok) throw new Error("claim failed");
    // Simulate a crash between writes: the run ended but its lease and lock stayed.
    s.db.query("UPDATE runs SET state = 'lost' WHERE run_id = ?").run(c.run.run_id);
    expect(s.tx((db) => cleanupStaleClaims(db))).toEqual({ leases: 1, locks: 1 });
    expect(s.tx((db) => requeueOrphanedTasks(db, 3_000))).toEqual(["a"]);
    expect(status(s, "a").status).toBe("pending");
    expect(s.tx((db) => cleanupStaleClaims(db))).toEqual({ leases: 0, locks: 0 });
  });

  test("running counts come from the runs", () => {
    const s = memoryStore();
    addNode(s, "n1");
    addTask(s, { id: "a" });
    s.tx((db) => claimRun(db, "a", "n1", null, 2_000));
    s.db.query("UPDATE nodes SET running = 7").run();
    expect(s.tx((db) => syncRunningCounts(db))).toBe(1);
    expect((s.db.query("SELECT running FROM nodes").get() as { running: number }).running).toBe(1);
    expect(s.tx((db) => syncRunningCounts(db))).toBe(0);
  });
});

describe("DAG", () => {
  test("a dead dependency blocks its whole chain, naming the culprit; retrying it unblocks them", () => {
    const s = memoryStore();
    addTask(s, { id: "a", status: "dead" });
    addTask(s, { id: "b", deps: ["a"] });
    addTask(s, { id: "c", deps: ["b"] });
    addTask(s, { id: "d" });
    const blocked = s.tx((db) => blockHopelessTasks(db, 2_000));
    expect(blocked).toEqual([
      { task_id: "b", blocked_by: "a" },
      { task_id: "c", blocked_by: "b" },
    ]);
    expect(status(s, "d").status).toBe("pending");
    expect(s.db.query("SELECT COUNT(*) AS n FROM events WHERE kind = 'task_blocked'").get()).toEqual({
      n: 2,
    });
    s.db.query("UPDATE tasks SET status = 'pending' WHERE task_id = 'a'").run();
    expect(s.tx((db) => unblockTasks(db, 3_000)).sort()).toEqual(["b", "c"]);
    expect(status(s, "c")).toEqual({ status: "pending", blocked_by: null });
  });

  test("dependencies that exist nowhere are reported", () => {
    const s = memoryStore();
    addTask(s, { id: "a", deps: ["ghost"] });
    expect(s.tx((db) => missingDependencies(db))).toEqual([{ task_id: "a", depends_on: "ghost" }]);
  });
});

describe("guardian", () => {
  test("dead tasks with a recoverable reason get one more attempt, at most `limit` times", () => {
    const s = memoryStore();
    addTask(s, { id: "lost", status: "dead" });
    addTask(s, { id: "bad", status: "dead" });
    s.db.query("UPDATE tasks SET last_reason = 'lost', attempts = 3 WHERE task_id = 'lost'").run();
    s.db.query("UPDATE tasks SET last_reason = 'exit_nonzero' WHERE task_id = 'bad'").run();
    expect(s.tx((db) => reviveDeadTasks(db, ["lost", "timeout"], 1, 2_000))).toEqual(["lost"]);
    expect(s.db.query("SELECT status, max_attempts FROM tasks WHERE task_id = 'lost'").get()).toEqual({
      status: "pending",
      max_attempts: 4,
    });
    s.db.query("UPDATE tasks SET status = 'dead' WHERE task_id = 'lost'").run();
    expect(s.tx((db) => reviveDeadTasks(db, ["lost"], 1, 3_000))).toEqual([]);
  });

  test("a long run is listed, by its launch on the controller's clock, until it is marked alerted", () => {
    const s = memoryStore();
    addNode(s, "n1");
    addTask(s, { id: "a" });
    const c = s.tx((db) => claimRun(db, "a", "n1", null, 1_000));
    if (!c.ok) throw new Error("claim failed");
    // The node's clock says it started far later: the controller's launch time counts.
    s.tx((db) => markRunning(db, c.run.run_id, { pid: 1, started_at: 90_000, heartbeat_at: 90_000 }, 1_000));
    expect(s.tx((db) => unalertedRunsLaunchedBefore(db, 5_000)).map((r) => r.run_id)).toEqual([c.run.run_id]);
    expect(s.tx((db) => markAlerted(db, c.run.run_id, 6_000))).toBe(true);
    expect(s.tx((db) => unalertedRunsLaunchedBefore(db, 7_000))).toEqual([]);
  });
});

describe("projects", () => {
  test("project_complete fires once when every task succeeded, and again after new work completes", () => {
    const s = memoryStore();
    addNode(s, "n1");
    addTask(s, { id: "a" });
    s.db.query("UPDATE tasks SET project = 'shop'").run();
    expect(s.tx((db) => newlyCompletedProjects(db, 2_000))).toEqual([]);
    const c = s.tx((db) => claimRun(db, "a", "n1", null, 2_000));
    if (!c.ok) throw new Error("claim failed");
    s.tx((db) => markRunning(db, c.run.run_id, { pid: 1, started_at: 2_000, heartbeat_at: 2_000 }, 2_000));
    s.tx((db) => finishRun(db, c.run.run_id, { state: "succeeded", exit_code: 0 }, policy, 3_000));
    expect(s.tx((db) => newlyCompletedProjects(db, 4_000))).toEqual([{ project: "shop", tasks: 1 }]);
    expect(s.tx((db) => newlyCompletedProjects(db, 5_000))).toEqual([]);
    addTask(s, { id: "b", status: "succeeded" }, 6_000);
    s.db.query("UPDATE tasks SET project = 'shop'").run();
    expect(s.tx((db) => newlyCompletedProjects(db, 7_000))).toEqual([{ project: "shop", tasks: 2 }]);
    expect(s.db.query("SELECT COUNT(*) AS n FROM events WHERE kind = 'project_complete'").get()).toEqual({
      n: 2,
    });
  });
});
