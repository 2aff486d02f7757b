import { describe, expect, test } from "bun:test";
import { resolveHome, runDir, validateRunId } from "../../src/node/home.ts";
import { parseStartRequest } from "../../src/node/request.ts";
import { parseMeminfo } from "../../src/node/resources.ts";
import { substitute } from "../../src/node/template.ts";

describe("substitute", () => {
  const vars = { spec: "/r/spec.md", task_id: "t$(x)", command: "echo '{spec}'; rm -rf ~", empty: "" };
  test("placeholders inside one argument", () => {
    expect(substitute(["run", "--spec={spec}", "{task_id}-{task_id}"], vars)).toEqual([
      "run",
      "--spec=/r/spec.md",
      "t$(x)-t$(x)",
    ]);
  });
  test("values are inserted literally, one pass (no re-expansion of {spec} inside a value)", () => {
    expect(substitute(["sh", "-c", "{command}"], vars)).toEqual(["sh", "-c", "echo '{spec}'; rm -rf ~"]);
  });
  test("argument count never changes; unknown placeholders stay", () => {
    expect(substitute(["{unknown}", "{empty}", "a b"], vars)).toEqual(["{unknown}", "", "a b"]);
  });
  test("no prototype keys", () => expect(substitute(["{constructor}"], {})).toEqual(["{constructor}"]));
});

describe("run ids and home", () => {
  test("valid ids", () => {
    for (const id of ["r1", "a.b-c_d", "x".repeat(128)]) expect(validateRunId(id)).toBe(id);
  });
  test("invalid ids", () => {
    for (const id of ["", ".", "..", "../x", "a/b", "a b", "x".repeat(129), "$(x)", "a\nb"])
      expect(() => validateRunId(id)).toThrow(/invalid run id/);
  });
  test("runDir refuses escapes", () => expect(() => runDir("/h", "..")).toThrow());
  test("resolveHome expands ~/", () => {
    const old = process.env.HOME;
    process.env.HOME = "/home/u";
    try {
      expect(resolveHome("~/.oyster")).toBe("/home/u/.oyster");
      expect(resolveHome("/abs")).toBe("/abs");
    } finally {
      process.env.HOME = old;
    }
  });
});

describe("start request validation", () => {
  const ok = { run_id: "r1", task_id: "t", spec: "", argv: ["true"], vars: {} };
  test("accepts a minimal request", () => expect(parseStartRequest(ok).argv).toEqual(["true"]));
  test.each([
    [{ ...ok, run_id: "../x" }, /invalid run id/],
    [{ ...ok, argv: [] }, /argv/],
    [{ ...ok, argv: "sh -c x" }, /argv/],
    [{ ...ok, vars: { a: 1 } }, /vars/],
    [{ ...ok, env: [] }, /env/],
    [{ ...ok, task_id: "" }, /task_id/],
  ])("refuses %p", (req, re) => expect(() => parseStartRequest(req)).toThrow(re));
});

test("parseMeminfo", () => {
  const mi = parseMeminfo("MemTotal:  1000 kB\nMemAvailable: 512 kB\nSwapTotal: 0 kB\nActive(anon): 5 kB\n");
  expect(mi).toEqual({ MemTotal: 1000, MemAvailable: 512, SwapTotal: 0, "Active(anon)": 5 });
});
