import { afterAll, expect, test } from "bun:test";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RotatingLog } from "../../src/supervisor/logfile.ts";
import { tempDir } from "../helpers/cli.ts";

const tmp = tempDir("oyster-logmode-");
afterAll(() => tmp.cleanup());
const mode = (p: string) => statSync(p).mode & 0o777;

test("service logs are 0600 under umask 000, after rotation, and when an older 0644 log is reopened", () => {
  const old = process.umask(0);
  try {
    const path = join(tmp.path, "logs", "api.log");
    const log = new RotatingLog(path, 10, 2);
    log.write("0123456789");
    log.write("rotates now\n");
    log.close();
    expect([mode(path), mode(`${path}.1`)]).toEqual([0o600, 0o600]);

    const legacy = join(tmp.path, "legacy.log");
    writeFileSync(legacy, "from an older oyster\n", { mode: 0o644 });
    new RotatingLog(legacy, 1_000, 1).close();
    expect(mode(legacy)).toBe(0o600);
  } finally {
    process.umask(old);
  }
});
