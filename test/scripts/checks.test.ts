import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkGraph, findCycles, type Graph } from "../../scripts/check-deps.ts";
import { factsOf, findUnused } from "../../scripts/check-unused.ts";

const ranks = { "src/low/": 0, "src/high/": 1, "src/high/odd.ts": 0 };
const graph = (edges: Record<string, string[]>): Graph => new Map(Object.entries(edges));

test("an import down the ranks passes; up, sideways or through a file ranked apart fails", () => {
  expect(checkGraph(graph({ "src/high/a.ts": ["src/low/b.ts"], "src/low/b.ts": [] }), ranks)).toEqual([]);
  const up = checkGraph(graph({ "src/low/b.ts": ["src/high/a.ts"], "src/high/a.ts": [] }), ranks);
  expect(up).toHaveLength(1);
  expect(up[0]).toContain("back edge: src/low/b.ts (src/low/, rank 0) imports src/high/a.ts");
  const odd = checkGraph(graph({ "src/high/odd.ts": ["src/high/a.ts"], "src/high/a.ts": [] }), ranks);
  expect(odd[0]).toContain("back edge: src/high/odd.ts");
  const unknown = checkGraph(graph({ "src/new/x.ts": [] }), ranks);
  expect(unknown[0]).toContain("src/new/x.ts: not in the rank table");
});

test("a cycle inside one folder is found and printed as a path", () => {
  const g = graph({
    "src/low/a.ts": ["src/low/b.ts"],
    "src/low/b.ts": ["src/low/c.ts"],
    "src/low/c.ts": ["src/low/a.ts"],
    "src/low/d.ts": ["src/low/a.ts"],
  });
  expect(findCycles(g)).toEqual([["src/low/a.ts", "src/low/b.ts", "src/low/c.ts", "src/low/a.ts"]]);
  expect(checkGraph(g, ranks)).toEqual([
    "import cycle: src/low/a.ts → src/low/b.ts → src/low/c.ts → src/low/a.ts",
  ]);
  expect(findCycles(graph({ "src/low/a.ts": ["src/low/b.ts"], "src/low/b.ts": [] }))).toEqual([]);
});

test("an export nobody uses is reported; imported, namespace-read, lazily loaded or used at home is not", () => {
  const files: Record<string, string> = {
    "src/lib.ts":
      "export const a = 1; export const b = 2; export const dead = 3; export type T = number; export function f(x: T) { return x; }",
    "src/ns.ts":
      "export const viaNs = 1; export const notRead = 2; export type NsType = number; export type NsUnread = string;",
    "src/lazy.ts": "export default 1; export const lazyUsed = 2; export const lazyDead = 3;",
    "src/user.ts": [
      'import { a, f as g } from "./lib.ts";',
      'import * as ns from "./ns.ts";',
      'const lazy = () => import("./lazy.ts").then((m) => [m.default, m.lazyUsed]);',
      "const typed: ns.NsType = 1;",
      "console.log(a, g, ns.viaNs, lazy, typed);",
    ].join("\n"),
  };
  const dir = mkdtempSync(join(tmpdir(), "oyster-checks-"));
  const cwd = process.cwd();
  try {
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(join(dir, "src"), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    process.chdir(dir); // factsOf resolves relative imports against the files on disk
    const facts = new Map(Object.entries(files).map(([name, text]) => [name, factsOf(name, text)]));
    expect(findUnused(facts, {})).toEqual([
      "src/lazy.ts:1 lazyDead",
      "src/lib.ts:1 b",
      "src/lib.ts:1 dead",
      "src/ns.ts:1 NsUnread",
      "src/ns.ts:1 notRead",
    ]);
    expect(
      findUnused(facts, { b: "kept", dead: "kept", lazyDead: "kept", notRead: "kept", NsUnread: "kept" }),
    ).toEqual([]);
  } finally {
    process.chdir(cwd);
    rmSync(dir, { recursive: true, force: true });
  }
});
