import { logger } from "./log.ts";

/**
 * Webhook notifications (breaker transitions, alerts): a JSON POST with a short timeout that
 * never blocks the caller and never throws.
 */
export function createNotifier(
  webhook: string,
  timeoutMs: number,
): (payload: Record<string, unknown>) => void {
  const log = logger("notify");
  if (!webhook) return () => {};
  return (payload) => {
    void fetch(webhook, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ source: "oyster", ts: new Date().toISOString(), ...payload }),
      signal: AbortSignal.timeout(timeoutMs),
    })
      .then((r) => {
        if (!r.ok) log.warn(`webhook answered ${r.status} for ${String(payload.kind)}`);
      })
      .catch((err: Error) => log.warn(`webhook failed for ${String(payload.kind)}: ${err.message}`));
  };
}
