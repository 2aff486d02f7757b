import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { oyster, tempDir } from "../helpers/cli.ts";

const dir = tempDir();
afterAll(dir.cleanup);

describe("the oyster binary", () => {
  test("--version prints the version and the git commit", () => {
    const r = oyster(["--version"], { cwd: dir.path });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^oyster \d+\.\d+\.\d+ \([0-9a-f]{7,}(-dirty)?\)\n$/);
  });

  test("--help lists subcommands and exits 0; no arguments is a usage error", () => {
    const r = oyster(["--help"], { cwd: dir.path });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("init");
    expect(r.stdout).not.toContain("\u001b[");
    expect(oyster([], { cwd: dir.path }).code).toBe(2);
  });

  test("an unknown subcommand exits 2 with a message", () => {
    const r = oyster(["frobnicate"], { cwd: dir.path });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
  });

  test("init writes a sample config that loads, and refuses to overwrite it", () => {
    const r = oyster(["init"], { cwd: dir.path });
    expect(r.code).toBe(0);
    expect(existsSync(join(dir.path, "oyster.yaml"))).toBe(true);
    expect(readFileSync(join(dir.path, "oyster.yaml"), "utf8")).toContain("host_key: strict");
    const again = oyster(["init"], { cwd: dir.path });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already exists");
    expect(again.stderr).not.toContain("    at ");
  });
});
