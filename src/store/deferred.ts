import { logger } from "../log.ts";
import type { Store } from "./db.ts";
import { storeFault } from "./fault.ts";

const log = logger("store");

/**
 * Start-up writes that a full disk must not turn into a crash loop: run now, or keep for the
 * store probe to retry once the disk takes writes again. Other errors still fail the start.
 */
const deferred = new WeakMap<Store, { what: string; write: () => void }[]>();

export function retryOnFullDisk(store: Store, what: string, write: () => void): void {
  try {
    write();
  } catch (err) {
    if (!storeFault(err)) throw err;
    log.warn(`could not ${what} (store ${storeFault(err)}); retrying until the disk takes writes`);
    deferred.set(store, [...(deferred.get(store) ?? []), { what, write }]);
  }
}

export function retryDeferred(store: Store): void {
  const left = deferred.get(store);
  while (left?.length) {
    try {
      left[0]!.write();
      log.info(`done at last: ${left.shift()!.what}`);
    } catch (err) {
      if (!storeFault(err)) log.error(`could not ${left.shift()!.what}: ${(err as Error).message}`);
      return;
    }
  }
}
