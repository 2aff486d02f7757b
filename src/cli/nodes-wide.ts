import type { NodeRow } from "../store/nodes.ts";
import { ago } from "./table.ts";

/**
 * The columns `oyster nodes --wide` adds (like `kubectl get -o wide`): which executors the node
 * runs, when it was last probed, and the last error, which otherwise only `--json` shows.
 */
export const NODE_WIDE_HEADERS = ["EXECUTORS", "PROBED", "LAST ERROR"];

export function nodeWideCells(
  n: Pick<NodeRow, "executors" | "last_probe_at" | "last_error">,
  now = Date.now(),
): string[] {
  const executors = n.executors ? (JSON.parse(n.executors) as string[]).join(",") : "all";
  return [executors, n.last_probe_at ? `${ago(n.last_probe_at, now)} ago` : "-", n.last_error ?? "-"];
}

const iso = (ms: number | null | undefined) => (ms ? new Date(ms).toISOString() : null);

/** A node for `--json`: ISO 8601 beside each epoch-ms time. */
export function nodeTimesIso(n: Pick<NodeRow, "last_probe_at" | "last_seen_at" | "updated_at">) {
  return {
    last_probe_at_iso: iso(n.last_probe_at),
    last_seen_at_iso: iso(n.last_seen_at),
    updated_at_iso: iso(n.updated_at),
  };
}
