import { dirname, isAbsolute, join, resolve } from "node:path";
import type { Config, NodeConfig } from "../config/schema.ts";
import { type ServiceConfig, serviceSchema } from "../config/services.ts";
import { selfArgv } from "../node/self.ts";

/** A service with everything resolved: its log file, health URL (local) and node (remote). */
export interface PlannedService {
  cfg: ServiceConfig;
  logFile: string;
  /** Local services: the URL to probe, or null without health checks. */
  healthUrl: string | null;
  /** Remote services: the node it runs on. */
  node: NodeConfig | null;
}

export class ServicesConfigError extends Error {
  override name = "ServicesConfigError";
}

/**
 * Turn `services:` into a plan, checking what the schema alone cannot (unique names, hosts that
 * name an ssh node). With no services configured the supervisor runs `oyster run` itself.
 * `base` is the directory relative paths are resolved from (the config file's directory).
 */
export function planServices(config: Config, configPath: string | null, base: string): PlannedService[] {
  const services = config.services.length ? config.services : [defaultService(config, configPath)];
  const problems: string[] = [];
  const seen = new Set<string>();
  const planned = services.map((svc, i) => {
    const where = `services[${i}]`;
    if (seen.has(svc.name)) problems.push(`  ${where}.name: duplicate service name "${svc.name}"`);
    seen.add(svc.name);
    let node: NodeConfig | null = null;
    if (svc.host && svc.host !== "local") {
      const n = config.nodes.find((x) => x.name === svc.host);
      if (!n) problems.push(`  ${where}.host: no node named "${svc.host}" in nodes: (service "${svc.name}")`);
      else if (n.transport !== "ssh")
        // A local node is this machine: run it here.
        node = null;
      else node = n;
    }
    const logFile = svc.log.file
      ? resolvePathFrom(svc.log.file, base)
      : join(base, "logs", `${svc.name}.log`);
    const cwd = svc.cwd && !node ? resolvePathFrom(svc.cwd, base) : svc.cwd;
    let healthUrl: string | null = null;
    if (svc.health) healthUrl = svc.health.url ?? `http://127.0.0.1:${svc.health.port}${svc.health.path}`;
    return { cfg: { ...svc, cwd }, logFile, healthUrl, node };
  });
  if (problems.length) throw new ServicesConfigError(`invalid services config:\n${problems.join("\n")}`);
  return planned;
}

/** `oyster run` of this very binary, probed on its own /health. */
export function defaultService(config: Config, configPath: string | null): ServiceConfig {
  const host = config.http.host === "0.0.0.0" || config.http.host === "::" ? "127.0.0.1" : config.http.host;
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return serviceSchema.parse({
    name: "oyster-run",
    command: [...selfArgv(), "run", ...(configPath ? ["--config", configPath] : [])],
    health:
      config.http.enabled && config.http.port
        ? // Only our own child's answer counts: another controller on the port is not it.
          { url: `http://${urlHost}:${config.http.port}/health`, grace: "30s", own_pid: true }
        : undefined,
  });
}

function resolvePathFrom(p: string, base: string): string {
  if (p === "~" || p.startsWith("~/")) return resolve(process.env.HOME ?? "/", p.slice(2));
  return isAbsolute(p) ? p : resolve(base, p);
}

export function configBase(configPath: string | null): string {
  return configPath ? dirname(configPath) : process.cwd();
}
