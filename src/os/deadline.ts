/**
 * Waiting with a bound, in one place: a plain sleep, polling a condition until a deadline, and a
 * promise that rejects when it takes too long. Timers never keep the process alive.
 */

/**
 * Resolve after `ms`. A plain timer (not Bun.sleep) so Bun and Deno run the same code; like
 * Bun.sleep it keeps the process alive while it waits.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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

/** Reject with a TimeoutError naming `what` when `p` takes longer than `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return withDeadline(p, ms, () => new TimeoutError(`${what} timed out after ${ms} ms`));
}

/**
 * Reject with `onTimeout()` if `p` has not settled within `ms`, and call `abort` so the work
 * stops. The timer never keeps the process alive.
 */
export function withDeadline<T>(
  p: Promise<T>,
  ms: number,
  onTimeout: () => Error,
  abort?: () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      abort?.();
      reject(onTimeout());
    }, ms);
    (timer as { unref?: () => void }).unref?.();
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}
