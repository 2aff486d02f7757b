/**
 * Why a node takes no (or less) work, in a few words for the REASON column of `oyster nodes`
 * and `oyster status` (issue 13.4): offline with the error that took it offline, draining, a
 * breaker that is not closed. Pure; "-" when nothing holds it back.
 */
export interface NodeReasonInput {
  online: boolean | number;
  draining: boolean | number;
  /** Null until the node has been probed once. */
  last_probe_at?: number | null;
  last_error: string | null;
  running?: number;
  breaker?: string | null;
}

const ONE_LINE = 80;

export function nodeReason(n: NodeReasonInput): string {
  const parts: string[] = [];
  if (!n.online && n.last_probe_at !== null)
    parts.push(n.last_error ? `offline: ${oneLine(n.last_error)}` : "offline");
  if (n.draining) parts.push(n.running ? `draining (${n.running} running)` : "draining (idle)");
  if (n.breaker && n.breaker !== "CLOSED") parts.push(`breaker ${n.breaker}`);
  return parts.length ? parts.join("; ") : "-";
}

function oneLine(s: string): string {
  const flat = s.replace(/\s+/g, " ").trim();
  return flat.length > ONE_LINE ? `${flat.slice(0, ONE_LINE - 1)}…` : flat;
}
