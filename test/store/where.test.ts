import { expect, test } from "bun:test";
import { whereGiven } from "../../src/store/where.ts";

test("only the conditions whose value is given make the clause, their values in the same order", () => {
  expect(whereGiven([])).toEqual({ sql: "", params: [] });
  expect(
    whereGiven([
      ["id < ?", 0],
      ["kind = ?", "task_dispatched"],
      ["node = ?", ""],
      ["task_id = ?", undefined],
      ["attempt = ?", 2],
    ]),
  ).toEqual({ sql: "WHERE kind = ? AND attempt = ?", params: ["task_dispatched", 2] });
});
