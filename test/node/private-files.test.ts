import { afterAll, describe, expect, test } from "bun:test";
import { lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "bun";
import { readStatusFile, STATUS_MAX_BYTES, writeStatus } from "../../src/node/status.ts";
import {
  createPrivateFile,
  ensurePrivateDir,
  readPrivateFile,
  replacePrivateFile,
  UnsafeFileError,
} from "../../src/os/files.ts";
import type { RunStatus } from "../../src/protocol/messages.ts";
import { tempDir } from "../helpers/cli.ts";

const tmp = tempDir("oyster-private-");
afterAll(() => tmp.cleanup());
const mode = (p: string) => statSync(p).mode & 0o777;
let n = 0;
const fresh = () => {
  const d = join(tmp.path, `case-${++n}`);
  mkdirSync(d);
  return d;
};
const status = (run_id: string): RunStatus => ({
  run_id,
  task_id: "t",
  pid: 1,
  wrapper_pid: 1,
  state: "running",
  started_at: 1,
  heartbeat_at: 1,
  finished_at: null,
  exit_code: null,
  wrapper_version: "test",
  elapsed_ms: 0,
});

describe("private files", () => {
  test("directories are 0700 and files 0600 even under umask 000", () => {
    const old = process.umask(0);
    try {
      const d = join(fresh(), "home", "runs", "r1");
      ensurePrivateDir(d);
      replacePrivateFile(join(d, "a"), "x");
      createPrivateFile(join(d, "b"), "y");
      expect([mode(join(d, "..", "..")), mode(join(d, "..")), mode(d)]).toEqual([0o700, 0o700, 0o700]);
      expect([mode(join(d, "a")), mode(join(d, "b"))]).toEqual([0o600, 0o600]);
    } finally {
      process.umask(old);
    }
  });

  test("an existing run dir is tightened; a symlink in its place is refused", () => {
    const d = fresh();
    mkdirSync(join(d, "loose"), { mode: 0o777 });
    ensurePrivateDir(join(d, "loose"));
    expect(mode(join(d, "loose"))).toBe(0o700);
    symlinkSync(tmp.path, join(d, "planted"));
    expect(() => ensurePrivateDir(join(d, "planted"))).toThrow(/not a directory/);
  });

  test("replacing a file that is a symlink replaces the link and leaves its target alone", () => {
    const d = fresh();
    const target = join(d, "target");
    writeFileSync(target, "precious");
    symlinkSync(target, join(d, "status.json"));
    replacePrivateFile(join(d, "status.json"), "new");
    expect(readFileSync(target, "utf8")).toBe("precious");
    expect(lstatSync(join(d, "status.json")).isSymbolicLink()).toBe(false);
    expect(readFileSync(join(d, "status.json"), "utf8")).toBe("new");
    expect(() => createPrivateFile(target, "again")).toThrow(/EEXIST/);
  });

  test("reads refuse symlinks, FIFOs (without hanging) and files over the cap", () => {
    const d = fresh();
    writeFileSync(join(d, "ok"), "hello");
    expect(readPrivateFile(join(d, "ok"), 5)).toBe("hello");
    expect(() => readPrivateFile(join(d, "ok"), 4)).toThrow(UnsafeFileError);
    symlinkSync(join(d, "ok"), join(d, "link"));
    expect(() => readPrivateFile(join(d, "link"), 100)).toThrow(/symlink/);
    expect(spawnSync(["mkfifo", join(d, "fifo")]).exitCode).toBe(0);
    expect(() => readPrivateFile(join(d, "fifo"), 100)).toThrow(/not a regular file/);
    expect(() => readPrivateFile(join(d, "missing"), 100)).toThrow(/ENOENT/);
  });
});

describe("status.json", () => {
  test("a readable status of this run is read; symlinked, oversized, foreign or broken ones are not", () => {
    const root = fresh();
    const dir = (name: string) => {
      const d = join(root, name);
      mkdirSync(d);
      return d;
    };
    const good = dir("good");
    writeStatus(good, status("good"));
    expect(readStatusFile(good)).toMatchObject({ run_id: "good", state: "running" });
    expect(mode(join(good, "status.json"))).toBe(0o600);

    const linked = dir("linked");
    symlinkSync(join(good, "status.json"), join(linked, "status.json"));
    expect(readStatusFile(linked)).toBeNull();

    const big = dir("big");
    writeFileSync(
      join(big, "status.json"),
      JSON.stringify({ ...status("big"), pad: "x".repeat(STATUS_MAX_BYTES) }),
    );
    expect(readStatusFile(big)).toBeNull();

    const foreign = dir("foreign");
    writeFileSync(join(foreign, "status.json"), JSON.stringify(status("someone-else")));
    expect(readStatusFile(foreign)).toBeNull();

    const broken = dir("broken");
    writeFileSync(join(broken, "status.json"), "{not json");
    expect(readStatusFile(broken)).toBeNull();
  });
});
