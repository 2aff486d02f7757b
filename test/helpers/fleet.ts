import type { WindowCounts } from "../../src/dispatch/stats.ts";
import type { FleetSnapshot } from "../../src/server/snapshot.ts";

/** The dispatch window with nothing in it: no launches, no refusals, no rate. */
export const noDispatches = (): WindowCounts => ({
  total: 0,
  success: 0,
  failed: 0,
  rate: null,
  failure_reasons: {},
  refusals: {},
  overload_causes: {},
});

/** A fleet with `pending` tasks waiting and nothing else: no nodes, breakers, pools or dispatches. */
export const idleFleet = (pending = 0): FleetSnapshot => ({
  at: 0,
  tasks: { pending, dispatched: 0, running: 0, succeeded: 0, failed: 0, dead: 0, blocked: 0, cancelled: 0 },
  nodes: [],
  breakers: [],
  window: { ...noDispatches(), window_s: 3600 },
  drain: false,
  pause: false,
  reserve: { fleet: 0, nodes: {} },
  pools: [],
});
