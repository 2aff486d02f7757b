import { describe, expect, test } from "bun:test";
import { parseSpecText } from "../../src/spec/parse.ts";

const parse = (fm: string) => parseSpecText(`---\ntask_id: t1\n${fm}\n---\nbody\n`, "t1.md");

describe("front-matter keys", () => {
  test("typos of known keys are refused with did-you-mean, naming the key", () => {
    const r = parse('dependson: ["a"]\nprioirty: 1\nmodfies: [x.py]\ncommand: "true"');
    expect("problems" in r && r.problems.map((p) => [p.field, p.message.split(";")[0]])).toEqual([
      ["dependson", 'unknown key (did you mean "depends_on"?)'],
      ["prioirty", 'unknown key (did you mean "priority"?)'],
      ["modfies", 'unknown key (did you mean "modifies"?)'],
    ]);
  });

  test("an unknown key far from any field still says where user keys go", () => {
    const r = parse("owner: me");
    expect("problems" in r && r.problems[0]!.message).toBe(
      'unknown key; keys for your own tools go under "x-" (x-owner)',
    );
  });

  test("unknown keys are reported together with the other problems of the file", () => {
    const r = parse("dependson: [a]\npriority: -1");
    expect("problems" in r && r.problems.map((p) => p.field)).toEqual(["dependson", "priority"]);
  });

  test("x- keys are kept as written, nested values too; a spec without them has no extra", () => {
    const r = parse('x-owner: team-a\nx-ticket: { id: 42, url: "https://t/42" }');
    expect("spec" in r && r.spec.extra).toEqual({
      "x-owner": "team-a",
      "x-ticket": { id: 42, url: "https://t/42" },
    });
    const plain = parse("priority: 1");
    expect("spec" in plain && plain.spec.extra).toBeUndefined();
  });
});
