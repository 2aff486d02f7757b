import { describe, expect, test } from "bun:test";
import { normalizeModifiesPath, PathLocks, pathsConflict } from "../../src/dispatch/paths.ts";

describe("modifies paths", () => {
  test("one spelling per path", () => {
    for (const p of ["./src/a.ts", "src/a.ts", "src//a.ts", "src/./a.ts", "src/x/../a.ts", "./src/a.ts/"])
      expect(normalizeModifiesPath(p)).toBe("src/a.ts");
    expect(normalizeModifiesPath("src/")).toBe("src");
    expect(normalizeModifiesPath("./")).toBe(".");
    expect(normalizeModifiesPath("")).toBe(".");
    expect(normalizeModifiesPath("../up/a")).toBe("../up/a");
    expect(normalizeModifiesPath("//etc//x")).toBe("/etc/x");
    expect(normalizeModifiesPath("/../etc")).toBe("/etc");
  });

  test("the same file spelled differently conflicts", () => {
    expect(pathsConflict("./src/a.ts", "src//a.ts")).toBe(true);
  });

  test("a directory conflicts with every path under it, both ways round", () => {
    expect(pathsConflict("src/", "src/x/y.ts")).toBe(true);
    expect(pathsConflict("src/x/y.ts", "src")).toBe(true);
    expect(pathsConflict(".", "anything/at/all")).toBe(true);
  });

  test("paths are compared by segments, not as strings", () => {
    expect(pathsConflict("src", "src2/a.ts")).toBe(false);
    expect(pathsConflict("src/a.ts", "src/a.tsx")).toBe(false);
    expect(pathsConflict("src/a", "src/b")).toBe(false);
    expect(pathsConflict("/etc/x", "etc/x")).toBe(false);
  });

  test("a lock set names the held path and its holder", () => {
    const locks = new PathLocks();
    locks.add("./src/x/y.ts", "T1");
    locks.add("docs", "T2");
    expect(locks.conflict("src/")).toEqual({ path: "src/x/y.ts", holder: "T1" });
    expect(locks.conflict("src//x/y.ts")).toEqual({ path: "src/x/y.ts", holder: "T1" });
    expect(locks.conflict("docs/README.md")).toEqual({ path: "docs", holder: "T2" });
    expect(locks.conflicts("src/x/z.ts")).toBe(false);
    expect(locks.conflicts("lib")).toBe(false);
    expect(locks.conflicts(".")).toBe(true);
  });
});
