/** Run `fn` over `items` with at most `limit` in flight; errors are the callee's to handle. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return out;
}

/** Cycles count from 1; periodic work runs on the first cycle (right after a restart) and every n-th after. */
export function everyNth(cycle: number, n: number): boolean {
  return (cycle - 1) % n === 0;
}

/**
 * seeds/002's `cycle_num % n == 0` with cycles counted from 1: cycles n, 2n, 3n, … The reaper's
 * orphan sweep (10) and offline-node recovery (5) run on these, as the seed's did.
 */
export function onMultipleOf(cycle: number, n: number): boolean {
  return cycle > 0 && cycle % n === 0;
}

const crashHits = new Map<string, number>();

/**
 * Test hook for the crash-safety tests: OYSTER_TEST_CRASH=<point>:<n> kills this process with
 * SIGKILL the n-th time execution passes <point> — a real kill -9 at an exact moment, not a
 * hoped-for one. Unset (always, outside tests) it costs one env lookup.
 */
export function crashPoint(point: string): void {
  const spec = process.env.OYSTER_TEST_CRASH;
  if (!spec) return;
  const [name, n] = spec.split(":");
  if (name !== point) return;
  const hits = (crashHits.get(point) ?? 0) + 1;
  crashHits.set(point, hits);
  if (hits >= Number(n ?? 1)) process.kill(process.pid, "SIGKILL");
}

/**
 * The controller's wall clock (`ctx.now`). Test hook: OYSTER_TEST_CLOCK_OFFSET=<ms> (signed)
 * shifts it, so an e2e test can show that a clock jump on the controller kills nothing early.
 * Test-only; unset (always, outside tests) it is Date.now itself.
 */
export function wallClock(): () => number {
  const raw = process.env.OYSTER_TEST_CLOCK_OFFSET;
  if (!raw) return Date.now;
  const offset = Number(raw);
  if (!Number.isInteger(offset))
    throw new Error(
      `OYSTER_TEST_CLOCK_OFFSET must be an integer of milliseconds, got ${JSON.stringify(raw)}`,
    );
  return () => Date.now() + offset;
}
