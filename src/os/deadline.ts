/**
 * Waiting with a bound, in one place: a plain sleep, polling a condition until a deadline, and a
 * promise that rejects when it takes too long. Timers never keep the process alive.
 */

/** Resolve after `ms` (the runtime's timer: the one place a port swaps it). */
export function sleep(ms: number): Promise<void> {
  return Bun.sleep(ms);
}

/** Poll `check` every `pollMs` until it holds or `ms` passed; the answer of a last check. */
export async function until(check: () => boolean, ms: number, pollMs = 20): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await sleep(pollMs);
  }
  return check();
}

export class TimeoutError extends Error {
  override name = "TimeoutError";
}

/** Reject when `p` takes longer than `ms`; the timer never keeps the process alive. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} timed out after ${ms} ms`)), ms);
    (timer as { unref?: () => void }).unref?.();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
