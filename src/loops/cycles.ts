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
