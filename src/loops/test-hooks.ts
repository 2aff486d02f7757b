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
