import type { Config, NodeConfig } from "../config/schema.ts";
import { resolveHome } from "../node/home.ts";
import { LocalTransport } from "./local.ts";
import { SshTransport } from "./ssh/transport.ts";
import type { Transport } from "./transport.ts";

export interface TransportOptions {
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  keepaliveMs: number;
  /** Grace between SIGTERM and SIGKILL on kill (default 5 s). */
  killGraceMs?: number;
  /** Reconnect backoff bounds for ssh nodes (defaults 250 ms .. 5 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** The transport for one configured node. Nothing connects until the first call. */
export function createTransport(node: NodeConfig, opts: TransportOptions): Transport {
  if (node.transport === "local") {
    return new LocalTransport(node.name, {
      home: resolveHome(node.oyster_home),
      killGraceMs: opts.killGraceMs,
    });
  }
  return new SshTransport(node, opts);
}

/** One transport per configured node, keyed by node name. */
export function createTransports(config: Config): Map<string, Transport> {
  const opts: TransportOptions = {
    connectTimeoutMs: config.ssh.connect_timeout,
    commandTimeoutMs: config.ssh.command_timeout,
    keepaliveMs: config.ssh.keepalive,
  };
  return new Map(config.nodes.map((n) => [n.name, createTransport(n, opts)]));
}
