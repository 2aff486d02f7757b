import type { Config } from "../config/schema.ts";
import { createTransport } from "../remote/index.ts";
import type { Transport } from "../remote/transport.ts";
import type { RunRow } from "../store/runs.ts";
import { streamOutput } from "./output.ts";

/**
 * The CLI reads output from the node itself, with the config's node definitions: `oyster logs`
 * and `tasks show` work with no controller running and across its restarts (the runs are
 * detached on the node and their files outlive any controller).
 */
export function transportForNode(config: Config, node: string): Transport | null {
  const cfg = config.nodes.find((n) => n.name === node);
  if (!cfg) return null;
  return createTransport(cfg, {
    connectTimeoutMs: config.ssh.connect_timeout,
    commandTimeoutMs: config.ssh.command_timeout,
    keepaliveMs: config.ssh.keepalive,
  });
}

/** At most this much of a tail is kept (a "line" may be megabytes long). */
const TAIL_MAX_BYTES = 64 * 1024;

/** The last `lines` lines of a run's output (at most TAIL_MAX_BYTES of them), read from its node. */
export async function lastLines(config: Config, run: RunRow, lines: number): Promise<Buffer> {
  const t = transportForNode(config, run.node);
  if (!t) throw new Error(`node "${run.node}" is not in the config any more`);
  try {
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of streamOutput(t, run.run_id, { tailLines: lines })) {
      parts.push(Buffer.from(chunk));
      size += chunk.length;
      while (size - (parts[0]?.length ?? 0) >= TAIL_MAX_BYTES && parts.length > 1)
        size -= parts.shift()!.length;
    }
    const all = Buffer.concat(parts);
    return all.length > TAIL_MAX_BYTES ? all.subarray(all.length - TAIL_MAX_BYTES) : all;
  } finally {
    await t.close();
  }
}
