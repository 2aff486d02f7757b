import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { type Db, openStore } from "./db.ts";
import { getSetting, setSetting } from "./settings.ts";

/**
 * Every store has an id, written once by the first controller that opens it; the controller
 * reports it on /health, so `oyster status`/`health` can tell their own controller from
 * another one answering on the same port.
 */
export function ensureStoreId(db: Db, now = Date.now()): string {
  const id = getSetting(db, "store_id");
  if (id) return id;
  const fresh = randomUUID();
  setSetting(db, "store_id", fresh, now);
  return fresh;
}

/** The id of the store at `path`, read-only; null when there is no store (or no id yet). */
export function readStoreId(path: string): string | null {
  if (!existsSync(path)) return null;
  const store = openStore(path, { readonly: true });
  try {
    return getSetting(store.db, "store_id");
  } finally {
    store.close();
  }
}
