import { describe, expect, test } from "bun:test";
import {
  ACTIVE_RUN_STATES,
  FINAL_RUN_STATES,
  FINAL_TASK_STATUSES,
  isIn,
  RUN_STATES,
  sqlIn,
  TASK_STATUSES,
} from "../../src/dispatch/states.ts";
import { memoryStore } from "../helpers/store.ts";

describe("the state vocabulary", () => {
  test("sqlIn quotes each state for an IN list", () => {
    expect(sqlIn(ACTIVE_RUN_STATES)).toBe("('launching','dispatched','running')");
    expect(sqlIn(["it's"])).toBe("('it''s')");
  });

  test("every run state is either active or final, never both", () => {
    const both = ACTIVE_RUN_STATES.filter((s) => isIn(FINAL_RUN_STATES, s));
    expect(both).toEqual([]);
    expect([...ACTIVE_RUN_STATES, ...FINAL_RUN_STATES].sort()).toEqual([...RUN_STATES].sort());
  });

  test("isIn narrows store strings and refuses null and strangers", () => {
    expect(isIn(FINAL_TASK_STATUSES, "dead")).toBe(true);
    expect(isIn(FINAL_TASK_STATUSES, "running")).toBe(false);
    expect(isIn(FINAL_TASK_STATUSES, null)).toBe(false);
  });

  test("the schema's CHECK constraints allow exactly the states this module names", () => {
    const s = memoryStore();
    const table = (name: string) =>
      s.tx(
        (db) => (db.query("SELECT sql FROM sqlite_master WHERE name = ?").get(name) as { sql: string }).sql,
      );
    expect(table("tasks")).toContain(`status IN ${sqlIn(TASK_STATUSES)}`);
    expect(table("runs")).toContain(`state IN ${sqlIn(RUN_STATES)}`);
  });
});
