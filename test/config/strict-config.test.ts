import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { checkDuration } from "../../src/config/duration.ts";
import { ENV_KEYS, loadConfig, parseConfig } from "../../src/config/load.ts";
import { configSchema } from "../../src/config/schema.ts";
import { tempDir } from "../helpers/cli.ts";

const dir = tempDir();
afterAll(dir.cleanup);
const fails = (yaml: string, env: Record<string, string> = {}) => {
  const p = join(dir.path, "c.yaml");
  writeFileSync(p, yaml);
  try {
    loadConfig(p, env);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("config loaded");
};

describe("durations", () => {
  test("need a unit; 0 alone may go without", () => {
    expect(checkDuration("300")).toEqual({ error: "300 has no unit: write 300s or 5m" });
    expect(checkDuration(10)).toEqual({ error: "10 has no unit: write 10s or 10ms" });
    expect(checkDuration("-5m")).toEqual({ error: "-5m is negative: a duration is 0 or more" });
    expect(checkDuration(0)).toEqual({ ms: 0 });
    expect(checkDuration("0")).toEqual({ ms: 0 });
    expect(checkDuration("1.5s")).toEqual({ ms: 1500 });
    expect(checkDuration(" 2h ")).toEqual({ ms: 7_200_000 });
    expect("error" in checkDuration("5 minutes")).toBe(true);
  });

  test("a bare number in config is refused with the advice, naming the key", () => {
    expect(fails("loops: { reaper: { interval: 10 } }")).toContain(
      "loops.reaper.interval: 10 has no unit: write 10s or 10ms",
    );
  });
});

describe("config errors", () => {
  test("name the node by its name and offer did-you-mean for unknown keys", () => {
    const msg = fails(
      "nodes:\n  - { name: gpu1, transport: ssh, host: h, port: huge }\n  - { name: cpu1, transport: local, slot: 3 }\nretyr: {}\n",
    );
    expect(msg).toContain('nodes["gpu1"].port: ');
    expect(msg).toContain('nodes["cpu1"]: unknown key(s): slot (did you mean "slots"?)');
    expect(msg).toContain('(top level): unknown key(s): retyr (did you mean "retry"?)');
  });

  test("a bad OYSTER_* value is blamed on the variable, not on the file", () => {
    const msg = fails("http: { port: 8090 }\n", {
      OYSTER_HTTP_PORT: "abc",
      OYSTER_LOOPS_SCHEDULER_INTERVAL: "10",
    });
    expect(msg).toStartWith("invalid config from the environment:");
    expect(msg).toContain('OYSTER_HTTP_PORT="abc" (http.port): ');
    expect(msg).toContain('OYSTER_LOOPS_SCHEDULER_INTERVAL="10" (loops.scheduler.interval): 10 has no unit');
  });
});

describe("every key of the schema has its OYSTER_* variable", () => {
  const defaults = configSchema.parse({}) as unknown as Record<string, unknown>;
  const at = (obj: unknown, path: string[]) =>
    path.reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
  const candidates = (key: (typeof keys)[number], dflt: unknown): string[] => {
    switch (key.kind) {
      case "boolean":
        return [String(!dflt)];
      case "number":
        return [String(Number(dflt) + 1), String(Number(dflt) / 2), "1"];
      case "duration":
        return dflt === 7_000 ? ["3m"] : ["7s"];
      case "string":
        // A path for most strings; an address for the few that must be one (a loopback host).
        return key.values ? key.values.filter((v) => v !== dflt) : ["/tmp/oyster-env-test", "localhost"];
      case "list":
        return [
          "[x]",
          "[{name: n1, transport: local}]",
          "[{name: s1, command: [sleep, '1']}]",
          "[{name: p1, executor: shell, slots: 2}]",
        ];
      case "map":
        return ["{x: {command: [echo]}}"];
      default:
        return [];
    }
  };
  const keys = [...ENV_KEYS.values()].filter((k) => k.kind !== "object");

  test("the walk covers nested optional keys, lists and maps", () => {
    const names = [...ENV_KEYS.keys()];
    for (const n of [
      "OYSTER_LOOPS_REAPER_UNHEALTHY_AFTER",
      "OYSTER_NODES",
      "OYSTER_EXECUTORS",
      "OYSTER_HTTP",
    ])
      expect(names).toContain(n);
    expect(keys.length).toBeGreaterThan(40);
  });

  for (const key of keys) {
    const name = `OYSTER_${key.path.join("_").toUpperCase()}`;
    test(`${name} sets ${key.path.join(".")}`, () => {
      const dflt = at(defaults, key.path);
      const tried: string[] = [];
      for (const text of candidates(key, dflt)) {
        let fromEnv: unknown;
        try {
          fromEnv = at(loadConfig("/dev/null", { [name]: text }).config, key.path);
        } catch (err) {
          tried.push(`${text}: ${(err as Error).message}`);
          continue;
        }
        // The same value written in the file gives the same config.
        const raw: Record<string, unknown> = {};
        let obj = raw;
        for (const seg of key.path.slice(0, -1)) obj = obj[seg] = {} as Record<string, unknown>;
        obj[key.path.at(-1)!] = key.kind === "string" ? text : parseYaml(text);
        const fromFile = at(parseConfig(raw), key.path);
        // (loadConfig adds the built-in executors to the configured ones.)
        if (key.kind === "map") expect(fromEnv).toMatchObject(fromFile as object);
        else expect(fromEnv).toEqual(fromFile);
        expect(fromEnv).not.toEqual(dflt);
        return;
      }
      throw new Error(`no value was accepted through ${name}:\n${tried.join("\n")}`);
    });
  }
});
