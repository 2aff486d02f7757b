import type { Config } from "../config/schema.ts";
import { logger } from "../log.ts";
import { withTimeout } from "../os/deadline.ts";
import type { Store } from "../store/db.ts";
import { recordEvent } from "../store/events.ts";
import { prunableRuns } from "../store/retention.ts";
import type { TransportLookup } from "./context.ts";
import { mapLimit } from "./map-limit.ts";

const log = logger("reaper");

/** Run ids per prune request (a few KB on the wire) and batches per node per sweep. */
const BATCH = 500;
const MAX_BATCHES = 20;

/**
 * Retention of run directories on the nodes (issue 13.8), run by the reaper every
 * `retention.interval`. The store decides which runs may go (final there, and old or beyond the
 * per-node count: src/store/retention.ts); the node removes only those of them it also sees over
 * (src/node/read.ts pruneRuns). A watermark per node, in memory, keeps a sweep from naming again
 * what an earlier one handled; after a restart the first sweep names them again and the node
 * answers "missing", which costs one request per BATCH runs.
 */
export interface RetentionDeps {
  store: Store;
  config: Pick<Config, "retention" | "ssh">;
  transports: TransportLookup;
  now: () => number;
}

export function createRetention(ctx: RetentionDeps) {
  const cfg = ctx.config.retention;
  const policy = { olderThanMs: cfg.runs, keep: cfg.max_runs_per_node };
  const watermark = new Map<string, number>();
  let last = Number.NEGATIVE_INFINITY;

  async function pruneNode(node: string): Promise<void> {
    const t = ctx.transports.get(node);
    if (!t?.prune) return;
    for (let i = 0; i < MAX_BATCHES; i++) {
      const after = watermark.get(node) ?? -1;
      const batch = ctx.store.read((db) => prunableRuns(db, node, policy, ctx.now(), after, BATCH));
      if (!batch.length) return;
      const report = await withTimeout(
        t.prune({ runs: batch.map((r) => r.run_id) }),
        ctx.config.ssh.command_timeout,
        `prune on ${node}`,
      );
      watermark.set(node, batch.at(-1)!.key);
      if (report.removed.length || report.kept.length) {
        log.info(
          `node ${node}: removed ${report.removed.length} finished run dir(s)${report.kept.length ? `, kept ${report.kept.length} the node still sees active` : ""}`,
          { node },
        );
        ctx.store.tx((db) =>
          recordEvent(
            db,
            {
              kind: "runs_pruned",
              source: "reaper",
              node,
              data: { removed: report.removed.length, kept: report.kept, missing: report.missing },
            },
            ctx.now(),
          ),
        );
      }
      if (batch.length < BATCH) return;
    }
  }

  return {
    /** Prune every online node when `retention.interval` has passed since the last time. Never throws. */
    async maybeSweep(online: string[]): Promise<void> {
      if (policy.olderThanMs === 0 && policy.keep === 0) return;
      const now = ctx.now();
      if (now - last < cfg.interval) return;
      last = now;
      await mapLimit(online, ctx.config.ssh.concurrency, (node) =>
        pruneNode(node).catch((err: unknown) =>
          log.warn(`node ${node}: retention could not prune run dirs: ${(err as Error).message}`, { node }),
        ),
      );
    },
  };
}
