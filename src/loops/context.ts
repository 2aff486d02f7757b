import type { Config } from "../config/schema.ts";
import type { Transport } from "../remote/transport.ts";
import type { Store } from "../store/db.ts";

/**
 * Everything the controller has for its loops. No loop takes it whole: each declares a `…Deps`
 * type with just the members it uses (built from these by controller.ts), so a unit test drives
 * a loop's `tick()` on an in-memory store with a few fakes. Node I/O happens between `store.tx`
 * calls, never inside one.
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

/** A node's transport by name; a loop that goes over every node also asks for `keys`. */
export interface TransportLookup {
  get(node: string): Transport | undefined;
}
export interface TransportList extends TransportLookup {
  keys(): Iterable<string>;
}

/** What recording a run's status needs (the agent's push, the reaper's list, a probe's catch-up). */
export interface RunStatusDeps {
  store: Store;
  config: Pick<Config, "retry">;
  now: () => number;
  wakeScheduler: () => void;
}
