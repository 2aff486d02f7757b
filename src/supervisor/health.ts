import type { CheckResult } from "./runner.ts";

/** One HTTP health probe: 200 is healthy; anything else, a timeout or a refused connection is not. */
export async function httpCheck(url: string, timeoutMs: number): Promise<CheckResult> {
  try {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "manual",
      // A fresh connection per probe: a pooled socket to a killed instance would fail spuriously.
      keepalive: false,
    });
    await res.body?.cancel().catch(() => {});
    return res.status === 200 ? { ok: true } : { ok: false, reason: `HTTP ${res.status}` };
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.name === "TimeoutError" || e.name === "AbortError")
      return { ok: false, reason: `timeout after ${timeoutMs}ms` };
    if (e.code === "ConnectionRefused" || e.code === "ECONNREFUSED")
      return { ok: false, reason: "connection refused" };
    return { ok: false, reason: e.code ?? e.message };
  }
}

/** Parse the status line of a raw HTTP/1.x response (used for probes through an SSH tunnel). */
export function parseStatusLine(head: string): number | null {
  const m = /^HTTP\/\d(?:\.\d)?\s+(\d{3})/.exec(head);
  return m ? Number(m[1]) : null;
}
