import type { Config } from "../config/schema.ts";
import type { Transport } from "../remote/transport.ts";
import type { Store } from "../store/db.ts";

/**
 * What the controller's loops share. Each loop takes this (or a narrower slice in tests), not
 * the whole controller. Node I/O happens between `store.tx` calls, never inside one.
 */
export interface ControllerContext {
  store: Store;
  config: Config;
  transports: ReadonlyMap<string, Transport>;
  now: () => number;
  /** Fire-and-forget JSON POST to notify.webhook (never blocks, never throws). */
  notify: (payload: Record<string, unknown>) => void;
  /**
   * Runs this process is launching right now (claimed, start request not answered yet): the
   * reaper must not call them ghosts just because the node does not list them yet.
   */
  launching: Set<string>;
  /** Ask the scheduler for a cycle soon (a run ended, a slot freed). */
  wakeScheduler: () => void;
}
