import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { BUILTIN_EXECUTORS, type Config, configSchema } from "./schema.ts";
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
  applyEnvOverrides(raw as Record<string, unknown>, env);
  const config = parseConfig(raw, path ?? "(defaults)");
  const base = path ? dirname(path) : process.cwd();
  config.store = resolvePath(config.store, base);
  config.state_dir = resolvePath(config.state_dir, base);
  config.factory.inbox = resolvePath(config.factory.inbox, base);
  config.executors = { ...BUILTIN_EXECUTORS, ...config.executors };
  return { config, path };
}

export function parseConfig(raw: unknown, source = "config"): Config {
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw new ConfigError(formatIssues(source, result.error.issues, raw));
  const unsafe = templateSites(result.data).flatMap((site) =>
    checkTemplate(site.argv, site.known, site.allowWholeCommand).map(
      (p) => `  ${formatPath([...site.path, p.index])}: ${p.message}`,
    ),
  );
  if (unsafe.length) throw new ConfigError(`invalid config in ${source}:\n${unsafe.join("\n")}`);
  return result.data;
}

/** `services[1].health.interval` → also name the service (`service "api"`) when it has a name. */
function serviceOf(path: PropertyKey[], raw: unknown): string {
  if (path[0] !== "services" || typeof path[1] !== "number") return "";
  const list = (raw as { services?: unknown } | null)?.services;
  const name = Array.isArray(list) ? (list[path[1]] as { name?: unknown } | null)?.name : undefined;
  return typeof name === "string" && name ? ` (service "${name}")` : "";
}

export function formatIssues(source: string, issues: z.core.$ZodIssue[], raw?: unknown): string {
  const lines = issues.map((i) => {
    const key = (formatPath(i.path) || "(top level)") + serviceOf(i.path, raw);
    // Show the offending value when it is a scalar; objects would bury the message.
    const input = "input" in i ? i.input : undefined;
    const shown = input === null || ["string", "number", "boolean"].includes(typeof input);
    const got = shown && i.code !== "custom" ? ` (got ${JSON.stringify(input)})` : "";
    let msg = i.message;
    if (i.code === "unrecognized_keys") msg = `unknown key(s): ${i.keys.join(", ")}`;
    return `  ${key}: ${msg}${i.code === "unrecognized_keys" ? "" : got}`;
  });
  return `invalid config in ${source}:\n${lines.join("\n")}`;
}

export function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>((acc, p) => {
    if (typeof p === "number") return `${acc}[${p}]`;
    return acc ? `${acc}.${String(p)}` : String(p);
  }, "");
}

/**
 * `OYSTER_HTTP_PORT=9000` sets `http.port`; values are read as YAML scalars so numbers, booleans
 * and flow lists (`[a, b]`) work. Keys are matched against the schema's own shape, so keys with
 * underscores (`retry.max_attempts` ⇐ `OYSTER_RETRY_MAX_ATTEMPTS`) resolve unambiguously.
 */
export function applyEnvOverrides(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  for (const [envKey, value] of Object.entries(env)) {
    if (!envKey.startsWith("OYSTER_") || value === undefined) continue;
    if (envKey === "OYSTER_CONFIG" || envKey === "OYSTER_HOME") continue;
    const path = ENV_PATHS.get(envKey);
    if (!path) continue;
    let parsed: unknown = value;
    try {
      parsed = parseYaml(value);
    } catch {
      parsed = value;
    }
    if (parsed === null) parsed = value;
    // Strings stay strings where the schema expects one (e.g. a token of digits).
    if (STRING_LEAVES.has(path.join(".")) && typeof parsed !== "string") parsed = value;
    let obj = raw;
    for (const seg of path.slice(0, -1)) {
      const next = obj[seg];
      if (typeof next !== "object" || next === null || Array.isArray(next)) obj[seg] = {};
      obj = obj[seg] as Record<string, unknown>;
    }
    obj[path[path.length - 1]!] = parsed;
  }
}

const STRING_LEAVES = new Set([
  "store",
  "state_dir",
  "http.host",
  "http.token",
  "factory.inbox",
  "notify.webhook",
]);

/** Every overridable key path, derived from the defaults so it never drifts from the schema. */
const ENV_PATHS: Map<string, string[]> = (() => {
  const map = new Map<string, string[]>();
  const defaults = configSchema.parse({});
  const walk = (obj: Record<string, unknown>, path: string[]) => {
    for (const [k, v] of Object.entries(obj)) {
      const p = [...path, k];
      map.set(`OYSTER_${p.join("_").toUpperCase()}`, p);
      if (v && typeof v === "object" && !Array.isArray(v) && path.length < 2)
        walk(v as Record<string, unknown>, p);
    }
  };
  walk(defaults as unknown as Record<string, unknown>, []);
  return map;
})();

export function expandHome(p: string): string {
  if (p === "~") return homedir();
  if (p.startsWith("~/")) return resolve(homedir(), p.slice(2));
  return p;
}

export function resolvePath(p: string, base: string): string {
  const e = expandHome(p);
  return isAbsolute(e) ? e : resolve(base, e);
}
