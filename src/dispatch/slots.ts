/**
 * The slot budget beside node slots, pure: pools (named concurrency limits selected by executor
 * and/or project, config `pools`) and the team reservation (`oyster reserve`, slots held back
 * for people). The store counts; these functions only compare.
 */

export interface PoolSpec {
  name: string;
  /** Tasks of this executor draw from the pool (absent: any executor). */
  executor?: string;
  /** Tasks of this project draw from the pool (absent: any project). */
  project?: string;
  slots: number;
}

/** A pool with the number of its tasks that hold an active run now. */
export interface PoolUse extends PoolSpec {
  running: number;
}

export interface Reservation {
  /** Slots held back across the fleet. */
  fleet: number;
  /** Slots held back on one node, by node name. */
  nodes: Record<string, number>;
}

export function matchesPool(p: PoolSpec, t: { executor: string; project?: string }): boolean {
  return (
    (p.executor === undefined || p.executor === t.executor) &&
    (p.project === undefined || p.project === t.project)
  );
}

/** Every pool a task draws from: it needs a free slot in each. */
export function poolsOf<P extends PoolSpec>(pools: P[], t: { executor: string; project?: string }): P[] {
  return pools.filter((p) => matchesPool(p, t));
}

export function fullPools<P extends PoolUse>(pools: P[]): P[] {
  return pools.filter((p) => p.running >= p.slots);
}

/** Active runs per pool, from counts of active runs by executor and project. */
export function poolUsage(
  pools: PoolSpec[],
  active: { executor: string; project: string; n: number }[],
): PoolUse[] {
  return pools.map((p) => ({
    ...p,
    running: active.filter((a) => matchesPool(p, a)).reduce((s, a) => s + a.n, 0),
  }));
}

export function reservationActive(r: Reservation): boolean {
  return r.fleet > 0 || Object.values(r.nodes).some((n) => n > 0);
}

/** "2 slots fleet-wide, 1 on gpu1": what `oyster reserve` holds. */
export function reserveDetail(r: Reservation): string {
  const parts = [
    ...(r.fleet > 0 ? [`${r.fleet} slot${r.fleet === 1 ? "" : "s"} fleet-wide`] : []),
    ...Object.entries(r.nodes)
      .filter(([, n]) => n > 0)
      .map(([node, n]) => `${n} on ${node}`),
  ];
  return parts.length ? `reserved for people: ${parts.join(", ")} (oyster reserve off)` : "no free slot";
}

/** The stored form (settings `reserve`), read leniently: anything malformed holds nothing back. */
export function parseReservation(text: string | null): Reservation {
  if (!text) return { fleet: 0, nodes: {} };
  try {
    const v = JSON.parse(text) as { fleet?: unknown; nodes?: unknown };
    const count = (x: unknown) => (Number.isSafeInteger(x) && (x as number) > 0 ? (x as number) : 0);
    const nodes: Record<string, number> = {};
    if (v.nodes && typeof v.nodes === "object")
      for (const [k, n] of Object.entries(v.nodes as Record<string, unknown>))
        if (count(n)) nodes[k] = count(n);
    return { fleet: count(v.fleet), nodes };
  } catch {
    return { fleet: 0, nodes: {} };
  }
}
