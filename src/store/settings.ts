// Db is bun:sqlite's Database; named from there because db.ts itself writes settings (no cycle).
import type { Database as Db } from "bun:sqlite";

/**
 * Operator switches that must survive restarts and be visible to every process, and where the
 * running controller can be reached (`http_url`, for `oyster status` and `oyster health`).
 */
export type SettingKey =
  | "drain"
  | "pause"
  /** Slots held back for people (`oyster reserve`), JSON `{fleet, nodes}`. */
  | "reserve"
  | "http_url"
  /** This store's id, created with it (so a CLI can tell its own controller from another). */
  | "store_id"
  /** Who holds the controller lease (JSON pid/host/since), for refusals and lock messages. */
  | "controller_lease"
  /** Touched by a store in fault to find out whether the disk takes writes again. */
  | "store_probe_at";

export function getSetting(db: Db, key: SettingKey): string | null {
  const row = db.query("SELECT value FROM settings WHERE key = ?").get(key) as { value: string } | null;
  return row?.value ?? null;
}

export function setSetting(db: Db, key: SettingKey, value: string, now = Date.now()): void {
  db.query(
    "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
  ).run(key, value, now);
}

export function getFlag(db: Db, key: SettingKey): boolean {
  return getSetting(db, key) === "on";
}

/** Remove `key` only while it still holds `value` (a newer controller may have replaced it). */
export function clearSetting(db: Db, key: SettingKey, value: string): void {
  db.query("DELETE FROM settings WHERE key = ? AND value = ?").run(key, value);
}
