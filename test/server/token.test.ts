import { afterEach, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { ensureToken, exposedTokenProblem, findToken, TokenError } from "../../src/server/token.ts";
import { tempDir } from "../helpers/cli.ts";

const dirs: { cleanup: () => void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});

function config(token = "") {
  const d = tempDir("oyster-token-");
  dirs.push(d);
  const c = parseConfig({ http: { token } });
  c.state_dir = join(d.path, "state");
  return c;
}

test("a fresh state dir gets a 0700 directory and a 0600 token of 32 random bytes, kept across starts", () => {
  const c = config();
  expect(findToken(c, {}).token).toBeNull();
  const t = ensureToken(c, {});
  expect(t.source).toBe("file");
  expect(t.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(statSync(c.state_dir).mode & 0o777).toBe(0o700);
  expect(statSync(t.path).mode & 0o777).toBe(0o600);
  expect(readFileSync(t.path, "utf8").trim()).toBe(t.token);
  expect(ensureToken(c, {}).token).toBe(t.token);
  expect(findToken(c, {})).toEqual(t);
  expect(ensureToken(config(), {}).token).not.toBe(t.token);
});

test("a configured token wins and no file is written; the env is named as its source", () => {
  const c = config("from-config-0123456789");
  expect(ensureToken(c, {})).toMatchObject({ token: "from-config-0123456789", source: "config" });
  expect(ensureToken(c, { OYSTER_HTTP_TOKEN: "from-config-0123456789" }).source).toBe("env");
  expect(() => statSync(c.state_dir)).toThrow();
});

test("a token file others can read, or a symlink, is refused with advice", () => {
  const c = config();
  const t = ensureToken(c, {});
  chmodSync(t.path, 0o644);
  expect(() => ensureToken(c, {})).toThrow(/chmod 600/);
  expect(() => findToken(c, {})).toThrow(TokenError);
  const c2 = config();
  mkdirSync(c2.state_dir, { mode: 0o700 });
  writeFileSync(join(c2.state_dir, "elsewhere"), "x".repeat(40), { mode: 0o600 });
  symlinkSync(join(c2.state_dir, "elsewhere"), join(c2.state_dir, "http-token"));
  expect(() => ensureToken(c2, {})).toThrow(/not a regular file/);
});

test("an existing state dir open to others is tightened to 0700", () => {
  const c = config();
  mkdirSync(c.state_dir, { mode: 0o755 });
  chmodSync(c.state_dir, 0o755);
  ensureToken(c, {});
  expect(statSync(c.state_dir).mode & 0o777).toBe(0o700);
});

test("a token under 16 characters is refused beyond loopback only", () => {
  const short = { token: "short", source: "config" as const, path: "/x" };
  expect(exposedTokenProblem("127.0.0.1", short, true)).toBeNull();
  expect(exposedTokenProblem("0.0.0.0", short, false)).toContain("at least 16");
  expect(exposedTokenProblem("0.0.0.0", { ...short, token: "x".repeat(16) }, false)).toBeNull();
});
