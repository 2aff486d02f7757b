import { randomBytes } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/schema.ts";
import { logger } from "../log.ts";
import { linkPrivateFile } from "../os/files.ts";

const log = logger("http");

/** The API token file inside `state_dir`; the CLI reads the same path. */
export const TOKEN_FILE = "http-token";

/** 32 bytes from the CSPRNG: 43 characters of base64url. */
const TOKEN_BYTES = 32;

/** Shorter tokens are refused on a bind other machines can reach (guessable by brute force). */
export const MIN_EXPOSED_TOKEN_LENGTH = 16;

export type TokenSource = "env" | "config" | "file";

export interface ResolvedToken {
  token: string;
  source: TokenSource;
  /** The token file (when source is "file", or where it would be). */
  path: string;
}

export class TokenError extends Error {
  override name = "TokenError";
}

export const tokenPath = (stateDir: string) => join(stateDir, TOKEN_FILE);

/** A set token wins: `OYSTER_HTTP_TOKEN` lands in `http.token` at config load, so check the env to name it. */
function configured(config: Config, env: NodeJS.ProcessEnv): ResolvedToken | null {
  const t = config.http.token.trim();
  if (!t) return null;
  const source = env.OYSTER_HTTP_TOKEN?.trim() === t ? "env" : "config";
  return { token: t, source, path: tokenPath(config.state_dir) };
}

/**
 * The controller's token: the configured one, else the one in `state_dir/http-token`, created
 * (0600, directory 0700) on first start. Refuses a file others can read or that is a symlink.
 */
export function ensureToken(config: Config, env: NodeJS.ProcessEnv = process.env): ResolvedToken {
  const set = configured(config, env);
  if (set) return set;
  const dir = config.state_dir;
  const path = tokenPath(dir);
  privateDir(dir);
  const existing = readTokenFile(path);
  if (existing) return { token: existing, source: "file", path };
  // Readers never see half a token, and of two controllers starting at once exactly one link
  // wins; the other reads the winner's token.
  try {
    if (linkPrivateFile(path, `${randomBytes(TOKEN_BYTES).toString("base64url")}\n`))
      log.info(`http: generated an API token in ${path} (the CLI reads it from there)`);
  } catch (err) {
    throw new TokenError(`cannot create the API token file ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const token = readTokenFile(path);
  if (!token) throw new TokenError(`the API token file ${path} is empty; delete it to get a new token`);
  return { token, source: "file", path };
}

/**
 * The token as the CLI finds it (env, config, then the file), without creating anything: null
 * when no controller ever started from this state_dir.
 */
export function findToken(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedToken | { token: null; path: string } {
  const set = configured(config, env);
  if (set) return set;
  const path = tokenPath(config.state_dir);
  const token = readTokenFile(path);
  return token ? { token, source: "file", path } : { token: null, path };
}

/** The trimmed token in `path`, or null when there is no file; throws on an unsafe file. */
export function readTokenFile(path: string): string | null {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new TokenError(`cannot read the API token file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!st.isFile()) throw new TokenError(`the API token file ${path} is not a regular file (a symlink?)`);
  if (st.mode & 0o077) {
    throw new TokenError(
      `the API token file ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); run \`chmod 600 ${path}\``,
    );
  }
  try {
    return readFileSync(path, "utf8").trim() || null;
  } catch (err) {
    throw new TokenError(`cannot read the API token file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** Create `dir` 0700, or tighten an existing one we own; refuse one that belongs to someone else. */
function privateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    if (!st.isDirectory()) throw new Error("not a directory (a symlink?)");
    if (typeof process.getuid === "function" && st.uid !== process.getuid()) {
      throw new Error(`owned by uid ${st.uid}, not by this user`);
    }
    if (st.mode & 0o077) {
      chmodSync(dir, 0o700);
      log.warn(
        `state_dir ${dir} was mode ${(st.mode & 0o777).toString(8)}; made it 0700 (it holds the API token)`,
      );
    }
  } catch (err) {
    throw new TokenError(`state_dir ${dir} cannot hold the API token: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Startup check: a short token on a non-loopback bind is refused, with what to do instead. */
export function exposedTokenProblem(host: string, token: ResolvedToken, loopback: boolean): string | null {
  if (loopback || token.token.length >= MIN_EXPOSED_TOKEN_LENGTH) return null;
  const where =
    token.source === "env" ? "OYSTER_HTTP_TOKEN" : token.source === "config" ? "http.token" : token.path;
  return `http.host is ${host}, which other machines can reach, and the API token from ${where} has only ${token.token.length} characters: use at least ${MIN_EXPOSED_TOKEN_LENGTH} (or unset it to use the generated one), or bind to 127.0.0.1`;
}
