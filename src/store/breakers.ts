import { type BreakerState, closedBreaker } from "../dispatch/breaker.ts";
import type { Db } from "./db.ts";

interface BreakerRow {
  key: string;
  state: BreakerState["state"];
  failures: number;
  opened_at: number | null;
  last_failure_at: number | null;
  probe_in_flight: number;
  updated_at: number;
}

const fromRow = (r: BreakerRow): BreakerState => ({
  key: r.key,
  state: r.state,
  failures: r.failures,
  opened_at: r.opened_at,
  last_failure_at: r.last_failure_at,
  probe_in_flight: r.probe_in_flight === 1,
});

export function loadBreakers(db: Db): Map<string, BreakerState> {
  const rows = db.query("SELECT * FROM breakers").all() as BreakerRow[];
  return new Map(rows.map((r) => [r.key, fromRow(r)]));
}

export function getBreaker(db: Db, key: string): BreakerState {
  const r = db.query("SELECT * FROM breakers WHERE key = ?").get(key) as BreakerRow | null;
  return r ? fromRow(r) : closedBreaker(key);
}

export function saveBreaker(db: Db, b: BreakerState, now = Date.now()): void {
  db.query(
    `INSERT INTO breakers (key, state, failures, opened_at, last_failure_at, probe_in_flight, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(key) DO UPDATE SET state = excluded.state, failures = excluded.failures,
       opened_at = excluded.opened_at, last_failure_at = excluded.last_failure_at,
       probe_in_flight = excluded.probe_in_flight, updated_at = excluded.updated_at`,
  ).run(b.key, b.state, b.failures, b.opened_at, b.last_failure_at, b.probe_in_flight ? 1 : 0, now);
}

/** Remove a breaker row (`oyster breaker reset KEY`); returns false when there was none. */
export function deleteBreaker(db: Db, key: string): boolean {
  return db.query("DELETE FROM breakers WHERE key = ?").run(key).changes > 0;
}
