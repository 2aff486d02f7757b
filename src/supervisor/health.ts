import type { CheckResult } from "./instance.ts";

/**
 * A probe reads (and discards) up to this much of the body before closing: closing with the
 * answer unread resets the connection, and servers like Python's http.server log a
 * ConnectionResetError traceback for it. A health body larger than this is cut (rare, harmless).
 */
export const PROBE_BODY_LIMIT = 64 * 1024;

/**
 * Read a body to its end (or to `limit` bytes, then cancel) within `timeoutMs`; false when the
 * body did not end in time (a service that sends its headers and then hangs is not healthy).
 */
async function drain(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
  timeoutMs: number,
  keep?: Uint8Array[],
): Promise<boolean> {
  if (!body) return true;
  const reader = body.getReader();
  let timedOut = false;
  const timer = setTimeout(
    () => {
      timedOut = true;
      void reader.cancel().catch(() => {});
    },
    Math.max(0, timeoutMs),
  );
  let n = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return !timedOut;
      n += value.byteLength;
      keep?.push(value);
      if (n > limit) {
        await reader.cancel().catch(() => {});
        return true;
      }
    }
  } catch {
    // A body cut short still carried a status; only a timeout changes the verdict.
    return !timedOut;
  } finally {
    clearTimeout(timer);
    reader.releaseLock();
  }
}

/**
 * When the answer must come from our own instance: the pid its JSON body names, or why it names
 * none. Pure, so the rule is tested with plain values.
 */
export function answeredBy(body: string, ownPid: number | null): CheckResult {
  let pid: unknown;
  try {
    pid = (JSON.parse(body) as { pid?: unknown }).pid;
  } catch {
    return { ok: false, reason: "the health answer is not JSON with a pid" };
  }
  if (typeof pid !== "number") return { ok: false, reason: "the health answer names no pid" };
  if (pid !== ownPid)
    return {
      ok: false,
      reason: `answered by another process (pid ${pid}), not this instance (pid ${ownPid})`,
    };
  return { ok: true };
}

/**
 * One HTTP health probe: 200 is healthy; anything else, a timeout or a refused connection is not.
 * With `ownPid`, a 200 counts only when its JSON `pid` is that one (see answeredBy).
 */
export async function httpCheck(
  url: string,
  timeoutMs: number,
  ownPid?: () => number | null,
): Promise<CheckResult> {
  const deadline = Date.now() + timeoutMs;
  try {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "manual",
      // A fresh connection per probe: a pooled socket to a killed instance would fail spuriously.
      keepalive: false,
    });
    const chunks: Uint8Array[] | undefined = ownPid ? [] : undefined;
    if (!(await drain(res.body, PROBE_BODY_LIMIT, deadline - Date.now(), chunks)))
      return { ok: false, reason: `timeout after ${timeoutMs}ms (reading the body)` };
    if (res.status !== 200) return { ok: false, reason: `HTTP ${res.status}` };
    if (!ownPid || !chunks) return { ok: true };
    return answeredBy(Buffer.concat(chunks).toString("utf8"), ownPid());
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
