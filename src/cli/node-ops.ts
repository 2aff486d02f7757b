import { existsSync, readFileSync } from "node:fs";
import type { Config, NodeConfig } from "../config/schema.ts";
import { withTimeout } from "../os/deadline.ts";
import { expandHome } from "../os/paths.ts";
import { createTransport } from "../remote/index.ts";
import { TransportError } from "../remote/transport.ts";
import type { Store } from "../store/db.ts";
import { type ResourceReading, resourceReading, setDrainFlags } from "../store/nodes.ts";
import { activeRuns } from "../store/runs.ts";
import { CliError } from "./errors.ts";

/**
 * Node operations (issue 13.4) behind `oyster nodes drain|undrain|check|install`: which nodes
 * a command line names, the drain flag in the store (the running controller reads it at its
 * next tick), and a check that connects now, without a controller.
 */

/** The configured nodes named (or all of them with `--all`); a typo is a usage error. */
export function pickNodes(config: Config, names: string[], all: boolean): NodeConfig[] {
  if (all && names.length) throw new CliError("give node names or --all, not both", 2);
  if (all) return config.nodes;
  if (!names.length) throw new CliError("name at least one node (or --all)", 2);
  const known = config.nodes.map((n) => n.name);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length)
    throw new CliError(
      `no node named ${unknown.map((n) => `"${n}"`).join(", ")} in config (nodes: ${known.join(", ") || "none"})`,
      2,
    );
  return names.map((n) => config.nodes.find((c) => c.name === n)!);
}

/** Set or clear the drain flag of the nodes named, in one transaction (see store setDrainFlags). */
export function setDrain(store: Store, nodes: NodeConfig[], draining: boolean, now = Date.now()): void {
  store.tx((db) => setDrainFlags(db, nodes, draining, now));
}

/** Runs still active on each node (launching, dispatched or running). */
export function activeRunCounts(store: Store, names: string[]): Map<string, number> {
  return store.read((db) => new Map(names.map((n) => [n, activeRuns(db, n).length])));
}

/** How often `nodes drain --wait` looks at the store. */
export const DRAIN_POLL_MS = 200;

export interface CheckResult {
  node: string;
  ok: boolean;
  transport: string;
  address: string | null;
  /** `verified` (in known_hosts), `recorded` (accept-new wrote it now), `refused`, `not checked`, `local`. */
  host_key: string;
  version: string | null;
  resources: ResourceReading | null;
  ms: number;
  error: string | null;
}

const knownHostsFile = (n: NodeConfig) => {
  const f = n.known_hosts ?? "~/.ssh/known_hosts";
  return expandHome(f);
};
const readOr = (f: string) => {
  try {
    return existsSync(f) ? readFileSync(f, "utf8") : "";
  } catch {
    return "";
  }
};

/** Connect to one node now: version and resources, or the reason it cannot be reached. */
export async function checkNode(config: Config, node: NodeConfig): Promise<CheckResult> {
  const t = createTransport(node, {
    connectTimeoutMs: config.ssh.connect_timeout,
    commandTimeoutMs: config.ssh.command_timeout,
    keepaliveMs: config.ssh.keepalive,
  });
  const local = node.transport === "local";
  const kh = local ? "" : knownHostsFile(node);
  const before = local ? "" : readOr(kh);
  const started = performance.now();
  const base = {
    node: node.name,
    transport: node.transport,
    address: local ? null : `${node.user ? `${node.user}@` : ""}${node.host}:${node.port}`,
  };
  try {
    const [resources, version] = await withTimeout(
      Promise.all([t.resources(), t.version()]),
      config.ssh.connect_timeout + config.ssh.command_timeout,
      `check of ${node.name}`,
    );
    return {
      ...base,
      ok: true,
      host_key: local ? "local" : readOr(kh) === before ? "verified" : "recorded (accept-new)",
      version,
      resources: resourceReading(resources),
      ms: Math.round(performance.now() - started),
      error: null,
    };
  } catch (err) {
    const kind = err instanceof TransportError ? err.kind : null;
    return {
      ...base,
      ok: false,
      // ssh checks the host key before authenticating: an auth failure got past it.
      host_key: local
        ? "local"
        : kind === "host_key"
          ? "refused"
          : kind === "auth"
            ? "verified"
            : "not checked",
      version: null,
      resources: null,
      ms: Math.round(performance.now() - started),
      error: err instanceof Error ? err.message : String(err),
    };
  } finally {
    await t.close().catch(() => {});
  }
}
