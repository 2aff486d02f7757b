import type { Db } from "./db.ts";

/** Operator switches that must survive restarts and be visible to every process. */
export type SettingKey = "drain" | "pause";

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
