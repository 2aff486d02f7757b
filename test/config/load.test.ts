import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import { tempDir } from "../helpers/cli.ts";

const dir = tempDir();
afterAll(dir.cleanup);
const write = (name: string, text: string) => {
  const p = join(dir.path, name);
  writeFileSync(p, text);
  return p;
};

describe("config loading", () => {
  test("no file at all gives a working setup: ./oyster.db, one local node with 2 slots, a shell executor", () => {
    const { config, path } = loadConfig(undefined, {});
    expect(path).toBeNull();
    expect(config.store).toBe(join(process.cwd(), "oyster.db"));
    expect(config.nodes).toEqual([expect.objectContaining({ name: "local", transport: "local", slots: 2 })]);
    expect(config.executors.shell?.command).toEqual(["sh", "-c", "{command}"]);
    expect(config.loops.scheduler.interval).toBe(2_000);
  });

  test("OYSTER_* variables override keys, including ones with underscores and durations", () => {
    const p = write("env.yaml", "http: { port: 8090 }\nretry: { max_attempts: 3 }\n");
    const { config } = loadConfig(p, {
      OYSTER_HTTP_PORT: "9100",
      OYSTER_RETRY_MAX_ATTEMPTS: "7",
      OYSTER_LOOPS_SCHEDULER_INTERVAL: "500ms",
      OYSTER_HTTP_TOKEN: "12345",
    });
    expect(config.http.port).toBe(9100);
    expect(config.http.token).toBe("12345");
    expect(config.retry.max_attempts).toBe(7);
    expect(config.loops.scheduler.interval).toBe(500);
  });

  test("an error names the key, the bad value and what was expected", () => {
    const p = write(
      "bad.yaml",
      "nodes:\n  - name: a\n    transport: local\n    slots: four\nloops: { reaper: { interval: soon } }\n",
    );
    let err: unknown;
    try {
      loadConfig(p, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    expect(msg).toContain('nodes["a"].slots');
    expect(msg).toContain('"four"');
    expect(msg).toContain("loops.reaper.interval");
    expect(msg).toContain('expected a duration like "500ms"');
  });

  test("unknown keys, an ssh node without host and duplicate node names are refused", () => {
    const p = write(
      "keys.yaml",
      "colour: blue\nnodes:\n  - { name: a, transport: ssh }\n  - { name: a, transport: local }\n",
    );
    expect(() => loadConfig(p, {})).toThrow(/unknown key\(s\): colour/);
    expect(() => loadConfig(p, {})).toThrow(/nodes\[0\]\.host: an ssh node needs a host/);
    expect(() => loadConfig(p, {})).toThrow(/nodes\[1\]\.name: duplicate node name "a"/);
  });

  test("malformed YAML, a directory and a missing file each get a clear message", () => {
    expect(() => loadConfig(write("broken.yaml", "nodes: [\n"), {})).toThrow(/is not valid YAML/);
    mkdirSync(join(dir.path, "adir"));
    expect(() => loadConfig(join(dir.path, "adir"), {})).toThrow(/is a directory/);
    expect(() => loadConfig(join(dir.path, "nope.yaml"), {})).toThrow(/config file not found/);
  });

  test("relative paths resolve against the config file's directory", () => {
    mkdirSync(join(dir.path, "sub"));
    const p = write("sub/oyster.yaml", "store: data/o.db\n");
    expect(loadConfig(p, {}).config.store).toBe(join(dir.path, "sub/data/o.db"));
  });
});
