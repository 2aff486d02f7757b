import { describe, expect, test } from "bun:test";
import { parseSpecText, type TaskSpec } from "../../src/spec/parse.ts";
import { replaceTasks, storedTaskStates } from "../../src/store/replace.ts";
import { claimRun, finishRun, markRunning } from "../../src/store/runs.ts";
import { getTask } from "../../src/store/tasks.ts";
import { addNode, addTask, memoryStore } from "../helpers/store.ts";

const spec = (text: string): TaskSpec => {
  const r = parseSpecText(text, "x.md");
  if ("problems" in r) throw new Error(JSON.stringify(r.problems));
  return r.spec;
};
const policy = { backoffMs: 1_000, maxBackoffMs: 10_000 };

describe("replacing a stored task", () => {
  test("new spec, same id: runs and dependents' edges kept, pending with attempts reset, blocked dependents unblocked", () => {
    const s = memoryStore();
    addNode(s, "n1");
    addTask(s, { id: "old-dep" });
    addTask(s, { id: "fix", deps: ["old-dep"], paths: ["a.py"], max_attempts: 1 });
    addTask(s, { id: "after", deps: ["fix"] });
    s.tx((db) => db.query("UPDATE tasks SET status = 'succeeded' WHERE task_id = 'old-dep'").run());
    const c = s.tx((db) => claimRun(db, "fix", "n1", null, 2_000));
    if (!c.ok) throw new Error(c.reason);
    s.tx((db) => markRunning(db, c.run.run_id, { pid: 1, started_at: 2_000, heartbeat_at: 2_000 }, 2_000));
    expect(s.tx((db) => storedTaskStates(db, ["fix", "nope"]))).toEqual(
      new Map([
        ["fix", { status: "running", active: { run_id: c.run.run_id, node: "n1", state: "running" } }],
      ]),
    );
    s.tx((db) => finishRun(db, c.run.run_id, { state: "failed", exit_code: 3 }, policy, 3_000));
    s.tx((db) =>
      db.query("UPDATE tasks SET status = 'blocked', blocked_by = 'fix' WHERE task_id = 'after'").run(),
    );

    const unblocked = s.tx((db) =>
      replaceTasks(
        db,
        [
          spec(
            "---\ntask_id: fix\ncommand: echo fixed\nmodifies: [./b.py]\nmax_attempts: 2\n---\nnew body\n",
          ),
        ],
        3,
        4_000,
        "cli",
      ),
    );
    expect(unblocked).toEqual(["after"]);
    const t = s.read((db) => getTask(db, "fix"))!;
    expect(t).toMatchObject({
      status: "pending",
      attempts: 0,
      max_attempts: 2,
      command: "echo fixed",
      body: "new body\n",
      last_reason: null,
      finished_at: null,
      depends_on: [],
      modifies: ["b.py"],
    });
    expect(t.runs.map((r) => [r.attempt, r.state])).toEqual([[1, "failed"]]);
    const after = s.read((db) => getTask(db, "after"))!;
    expect(after.status).toBe("pending");
    expect(after.depends_on).toEqual([{ task_id: "fix", status: "pending" }]);
    // The next run continues the numbering.
    const next = s.tx((db) => claimRun(db, "fix", "n1", null, 5_000));
    expect(next.ok && next.run.attempt).toBe(2);
  });

  test("the new spec's own max_attempts replaces the old one's, and revivals start again", () => {
    const s = memoryStore();
    addTask(s, { id: "t", status: "dead", max_attempts: 1 });
    s.db.query("UPDATE tasks SET own_max_attempts = 1, attempts = 1, revivals = 2 WHERE task_id = 't'").run();
    s.tx((db) =>
      replaceTasks(db, [spec("---\ntask_id: t\ncommand: echo again\n---\nbody\n")], 3, 2_000, "cli"),
    );
    expect(s.read((db) => getTask(db, "t"))).toMatchObject({
      max_attempts: 3,
      own_max_attempts: null,
      revivals: 0,
      attempts: 0,
    });
    s.tx((db) =>
      replaceTasks(
        db,
        [spec("---\ntask_id: t\ncommand: echo again\nmax_attempts: 5\n---\nbody\n")],
        3,
        3_000,
        "cli",
      ),
    );
    expect(s.read((db) => getTask(db, "t"))).toMatchObject({ max_attempts: 5, own_max_attempts: 5 });
  });
});
