import { Database } from "bun:sqlite";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { migrate } from "./migrations.ts";

/**
 * The one seam to bun:sqlite. Every process holds at most one connection: `oyster run` for its
 * whole life, CLI commands for a few milliseconds.
 */
export type Db = Database;

/** Writers wait this long for the lock instead of failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 15_000;

export class StoreError extends Error {
  override name = "StoreError";
}

export interface Store {
  db: Db;
  path: string;
  /** Run `fn` in one short BEGIN IMMEDIATE transaction. `fn` must be synchronous. */
  tx<T>(fn: (db: Db) => T): T;
  /** Run `fn` in one read transaction: a consistent snapshot that never waits for writers (WAL). */
  read<T>(fn: (db: Db) => T): T;
  close(): void;
}

export function openStore(path: string, opts: { readonly?: boolean } = {}): Store {
  if (path !== ":memory:") {
    mkdirSync(dirname(path), { recursive: true });
    if (!existsSync(path)) {
      if (opts.readonly) throw new StoreError(`no store at ${path} (nothing submitted yet?)`);
      // Create the file ourselves so it is 0600 from the first byte: specs may hold secrets.
      closeSync(openSync(path, "a", 0o600));
      chmodSync(path, 0o600);
    }
  }
  let db: Database;
  try {
    db = new Database(path, {
      create: !opts.readonly,
      readwrite: !opts.readonly,
      readonly: opts.readonly,
      strict: true,
    });
  } catch (err) {
    throw new StoreError(`cannot open store ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    if (!opts.readonly) {
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
    }
    db.exec("PRAGMA foreign_keys = ON");
    if (!opts.readonly) migrate(db);
  } catch (err) {
    db.close();
    throw new StoreError(`cannot use store ${path}: ${(err as Error).message}`, { cause: err });
  }
  return {
    db,
    path,
    tx: (fn) => transaction(db, fn),
    read: (fn) => transaction(db, fn, "DEFERRED"),
    close: () => db.close(),
  };
}

/**
 * BEGIN IMMEDIATE takes the write lock up front, so a transaction never upgrades from read to
 * write halfway (the classic source of SQLITE_BUSY under WAL). A callback that returns a
 * promise is refused: awaiting inside would hold the lock across I/O.
 */
export function transaction<T>(db: Db, fn: (db: Db) => T, mode: "IMMEDIATE" | "DEFERRED" = "IMMEDIATE"): T {
  if (db.inTransaction) return fn(db);
  db.exec(`BEGIN ${mode}`);
  let result: T;
  try {
    result = fn(db);
    if (result instanceof Promise) {
      result.catch(() => {});
      throw new StoreError("transaction callback returned a promise; transactions must be synchronous");
    }
    db.exec("COMMIT");
  } catch (err) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw err;
  }
  return result;
}
