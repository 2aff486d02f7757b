import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { suggestion } from "../did-you-mean.ts";
import { expandHome } from "../os/paths.ts";
import { BUILTIN_EXECUTORS, type Config, configSchema } from "./schema.ts";
import { type KeyPath, keyPaths, keysAt } from "./schema-walk.ts";
import { checkTemplate, templateSites } from "./templates.ts";

export class ConfigError extends Error {
  override name = "ConfigError";
}

export interface LoadedConfig {
  config: Config;
  /** The file the config came from, or null when only defaults and env were used. */
  path: string | null;
}

export const CONFIG_FILENAMES = ["oyster.yaml", "oyster.yml"];

/** `--config` wins, then `$OYSTER_CONFIG`, then ./oyster.yaml; none at all is fine (defaults). */
export function findConfigFile(explicit?: string, env = process.env, cwd = process.cwd()): string | null {
  const chosen = explicit || env.OYSTER_CONFIG;
  if (chosen) {
    const p = resolve(cwd, expandHome(chosen));
    if (!existsSync(p)) throw new ConfigError(`config file not found: ${p}`);
    if (statSync(p).isDirectory()) throw new ConfigError(`config path is a directory, expected a file: ${p}`);
    return p;
  }
  for (const f of CONFIG_FILENAMES) {
    const p = resolve(cwd, f);
    if (existsSync(p)) return p;
  }
  return null;
}

export function loadConfig(explicit?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const path = findConfigFile(explicit, env);
  let raw: unknown = {};
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      throw new ConfigError(`cannot read config ${path}: ${(err as Error).message}`);
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (err) {
      throw new ConfigError(`config ${path} is not valid YAML: ${(err as Error).message}`);
    }
    if (typeof raw !== "object" || Array.isArray(raw)) {
      throw new ConfigError(`config ${path}: expected a mapping of keys at the top level`);
    }
  }
  const fromEnv = applyEnvOverrides(raw as Record<string, unknown>, env);
  const config = parseConfig(raw, path ?? "(defaults)", fromEnv);
  const base = path ? dirname(path) : process.cwd();
  config.store = resolvePath(config.store, base);
  config.state_dir = resolvePath(config.state_dir, base);
  config.factory.inbox = resolvePath(config.factory.inbox, base);
  config.executors = { ...BUILTIN_EXECUTORS, ...config.executors };
  return { config, path };
}

/**
 * `fromEnv` (from applyEnvOverrides) maps key paths to the variable that set them, so a bad
 * value is blamed on `OYSTER_HTTP_PORT`, not on the file.
 */
export function parseConfig(raw: unknown, source = "config", fromEnv: EnvOrigins = new Map()): Config {
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(formatIssues(source, result.error.issues, raw, fromEnv));
  const unsafe = templateSites(result.data).map((site) => ({
    path: site.path,
    problems: checkTemplate(site.argv, site.known, site.allowWholeCommand),
  }));
  const issues = unsafe.flatMap(({ path, problems }) =>
    problems.map((p) => ({ path: [...path, p.index], message: p.message })),
  );
  if (issues.length)
    throw new ConfigError(
      `${header(source, issues, fromEnv)}\n${issues.map((i) => `  ${keyName(i.path, raw, fromEnv)}: ${i.message}`).join("\n")}`,
    );
  return result.data;
}

/** Key path (`http.port`) → `OYSTER_HTTP_PORT="abc"`, for the variables that set a key. */
export type EnvOrigins = Map<string, string>;

function envOrigin(path: readonly PropertyKey[], fromEnv: EnvOrigins): string | undefined {
  for (let n = path.length; n > 0; n--) {
    const hit = fromEnv.get(path.slice(0, n).map(String).join("."));
    if (hit) return hit;
  }
  return undefined;
}

function header(source: string, issues: { path: PropertyKey[] }[], fromEnv: EnvOrigins): string {
  const allEnv = issues.every((i) => envOrigin(i.path, fromEnv));
  return allEnv ? "invalid config from the environment:" : `invalid config in ${source}:`;
}

/** `nodes[0].port` → `nodes["gpu1"].port`; services also say `(service "api")`; env keys name the variable. */
function keyName(path: PropertyKey[], raw: unknown, fromEnv: EnvOrigins): string {
  const key = (formatPath(path, raw) || "(top level)") + serviceOf(path, raw);
  const origin = envOrigin(path, fromEnv);
  return origin ? `${origin} (${key})` : key;
}

/** `services[1].health.interval` → also name the service (`service "api"`) when it has a name. */
function serviceOf(path: PropertyKey[], raw: unknown): string {
  if (path[0] !== "services" || typeof path[1] !== "number") return "";
  const name = nameAt(raw, "services", path[1]);
  return name ? ` (service "${name}")` : "";
}

/** The name of `raw[list][index]` when it has one that no other item shares. */
function nameAt(raw: unknown, list: string, index: number): string | undefined {
  const items = (raw as Record<string, unknown> | null)?.[list];
  if (!Array.isArray(items)) return undefined;
  const nameOf = (item: unknown) => (item as { name?: unknown } | null)?.name;
  const name = nameOf(items[index]);
  if (typeof name !== "string" || !name) return undefined;
  return items.filter((item) => nameOf(item) === name).length === 1 ? name : undefined;
}

export function formatIssues(
  source: string,
  issues: z.core.$ZodIssue[],
  raw?: unknown,
  fromEnv: EnvOrigins = new Map(),
): string {
  const lines = issues.map((i) => {
    const key = keyName(i.path, raw, fromEnv);
    // Show the offending value when it is a scalar; objects would bury the message.
    const input = "input" in i ? i.input : undefined;
    const shown = input === null || ["string", "number", "boolean"].includes(typeof input);
    const got = shown && i.code !== "custom" ? ` (got ${JSON.stringify(input)})` : "";
    if (i.code === "unrecognized_keys") {
      const known = keysAt(configSchema, i.path) ?? [];
      const keys = i.keys.map((k) => `${k}${suggestion(k, known)}`);
      return `  ${key}: unknown key(s): ${keys.join(", ")}`;
    }
    return `  ${key}: ${i.message}${got}`;
  });
  return `${header(source, issues, fromEnv)}\n${lines.join("\n")}`;
}

/** `nodes[0].port`, or `nodes["gpu1"].port` when `raw` gives the node a name. */
export function formatPath(path: PropertyKey[], raw?: unknown): string {
  return path.reduce<string>((acc, p, i) => {
    if (typeof p === "number") {
      const name = i === 1 && path[0] === "nodes" ? nameAt(raw, "nodes", p) : undefined;
      return name ? `${acc}[${JSON.stringify(name)}]` : `${acc}[${p}]`;
    }
    return acc ? `${acc}.${String(p)}` : String(p);
  }, "");
}

/**
 * `OYSTER_HTTP_PORT=9000` sets `http.port`, and so on for every key of the schema at any depth
 * (`OYSTER_LOOPS_REAPER_UNHEALTHY_AFTER`); lists and maps take a YAML flow value
 * (`OYSTER_NODES='[{name: a, transport: local}]'`). Values are read as YAML scalars, except where
 * the schema wants a string (a token of digits stays a string). Returns which variable set which
 * key, so errors can name it.
 */
export function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): EnvOrigins {
  const origins: EnvOrigins = new Map();
  for (const [envKey, value] of Object.entries(env)) {
    if (!envKey.startsWith("OYSTER_") || value === undefined) continue;
    const key = ENV_KEYS.get(envKey);
    if (!key) continue;
    let parsed: unknown = value;
    if (key.kind !== "string") {
      try {
        parsed = parseYaml(value);
      } catch {
        parsed = value;
      }
      if (parsed === null) parsed = value;
    }
    let obj = raw;
    for (const seg of key.path.slice(0, -1)) {
      const next = obj[seg];
      if (typeof next !== "object" || next === null || Array.isArray(next)) obj[seg] = {};
      obj = obj[seg] as Record<string, unknown>;
    }
    obj[key.path[key.path.length - 1]!] = parsed;
    origins.set(key.path.join("."), `${envKey}=${JSON.stringify(value)}`);
  }
  return origins;
}

/** The variable of every key path, derived from the schema so it never drifts from it. */
export const ENV_KEYS: Map<string, KeyPath> = new Map(
  keyPaths(configSchema).map((k) => [`OYSTER_${k.path.join("_").toUpperCase()}`, k]),
);

export function resolvePath(p: string, base: string): string {
  const e = expandHome(p);
  return isAbsolute(e) ? e : resolve(base, e);
}
