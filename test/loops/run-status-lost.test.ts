import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import type { ControllerContext } from "../../src/loops/context.ts";
import { applyRunStatus } from "../../src/loops/run-status.ts";
import type { RunStatus } from "../../src/protocol/messages.ts";
import { claimRun, getRun } from "../../src/store/runs.ts";
import { addNode, addTask, memoryStore, taskStatus } from "../helpers/store.ts";

function setup() {
  const store = memoryStore();
  addNode(store, "n1");
  addTask(store, { id: "a", paths: ["x.py"] });
  const c = store.tx((db) => claimRun(db, "a", "n1", null, 2_000));
  if (!c.ok) throw new Error(c.reason);
  const ctx: ControllerContext = {
    store,
    config: parseConfig({}),
    transports: new Map(),
    now: () => 3_000,
    notify: () => {},
    launching: new Set(),
    wakeScheduler: () => {},
  };
  const status = (state: RunStatus["state"]): RunStatus => ({
    run_id: c.run.run_id,
    task_id: "a",
    pid: 4242,
    wrapper_pid: 4241,
    state,
    started_at: 2_100,
    heartbeat_at: 2_900,
    finished_at: state === "running" ? null : 2_950,
    exit_code: null,
    wrapper_version: "test",
  });
  return { store, ctx, runId: c.run.run_id, status };
}

describe("applyRunStatus", () => {
  test("a lost status (pushed or listed) counts the attempt but frees neither the task nor its locks", () => {
    const { store, ctx, runId, status } = setup();
    expect(applyRunStatus(ctx, "n1", status("lost"))).toBe("ignored");
    expect(store.tx((db) => getRun(db, runId))).toMatchObject({ state: "running", pid: 4242 });
    expect(taskStatus(store, "a")).toMatchObject({ status: "running", attempts: 1 });
    expect(store.db.query("SELECT run_id FROM file_locks").all()).toEqual([{ run_id: runId }]);
    expect(store.db.query("SELECT run_id FROM leases").all()).toEqual([{ run_id: runId }]);
  });

  test("a killed status ends the run and frees the task", () => {
    const { store, ctx, runId, status } = setup();
    expect(applyRunStatus(ctx, "n1", status("killed"))).toBe("finished");
    expect(store.tx((db) => getRun(db, runId))?.state).toBe("failed");
    expect(store.db.query("SELECT run_id FROM file_locks").all()).toEqual([]);
  });
});
