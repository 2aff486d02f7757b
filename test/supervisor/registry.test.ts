import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync, statSync, writeFileSync } from "node:fs";
import { Registry, readRegistry, registryPath } from "../../src/supervisor/registry.ts";
import { tempDir } from "../helpers/cli.ts";

const dirs: (() => void)[] = [];
afterEach(() => {
  for (const c of dirs.splice(0)) c();
});
function dir(): string {
  const t = tempDir("oyster-registry-");
  dirs.push(t.cleanup);
  return `${t.path}/state`;
}

describe("the service registry", () => {
  test("records starts and exits, 0600 in a 0700 dir, with no temp file left", () => {
    const d = dir();
    const r = new Registry(d, { pid: 1, host: "h", since: "2026-01-01T00:00:00.000Z" });
    expect(statSync(d).mode & 0o777).toBe(0o700);
    r.started("web", { pid: 10, pgid: 10, starttime: 5, started_at: 1 });
    r.started("db", { pid: 11, pgid: 11, starttime: 6, started_at: 2 });
    r.gone("web", 99); // an older instance's exit does not erase the current one
    r.gone("db", 11);
    expect(readRegistry(d)?.services).toEqual({ web: { pid: 10, pgid: 10, starttime: 5, started_at: 1 } });
    expect(statSync(registryPath(d)).mode & 0o777).toBe(0o600);
    expect(readdirSync(d).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  test("no file is null; a damaged one is an error naming the file", () => {
    const d = dir();
    expect(readRegistry(d)).toBeNull();
    new Registry(d, { pid: 1, host: "h", since: "x" });
    writeFileSync(registryPath(d), "{not json");
    expect(() => readRegistry(d)).toThrow(`${registryPath(d)} is not JSON`);
    writeFileSync(registryPath(d), JSON.stringify({ services: [] }));
    expect(() => readRegistry(d)).toThrow("is not a service registry");
  });
});
