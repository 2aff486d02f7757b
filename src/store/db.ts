import { Database } from "bun:sqlite";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { logger } from "../log.ts";
import { metrics } from "../metrics.ts";
import { createStoreHealth, describeFault, type StoreHealth, storeFault } from "./fault.ts";
import { migrate } from "./migrations.ts";
import { setSetting } from "./settings.ts";

/**
 * The one seam to bun:sqlite. Every process holds at most one connection: `oyster run` for its
 * whole life, CLI commands for a few milliseconds.
 */
export type Db = Database;

/**
 * Writers wait this long for the lock instead of failing with SQLITE_BUSY (seeds/002 makes
 * 30 s mandatory). OYSTER_TEST_BUSY_TIMEOUT_MS shortens it so a test of the "still locked"
 * message does not wait half a minute.
 */
export const BUSY_TIMEOUT_MS = 30_000;

export function busyTimeoutMs(): number {
  const t = Number(process.env.OYSTER_TEST_BUSY_TIMEOUT_MS);
  return Number.isInteger(t) && t >= 0 ? t : BUSY_TIMEOUT_MS;
}

/** What to do about a damaged store, appended to every refusal. */
export const DAMAGED_ADVICE =
  "restore a backup (`oyster store backup PATH` takes one) or move the file aside to start empty; `oyster store check` shows what is wrong";

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
  /** Disk verdict for /health: ok, or disk_full / io_error since the last failed write. */
  health(): StoreHealth;
  /** While a fault stands, try one tiny write so an idle controller notices the disk came back. */
  probeWrite(): void;
  close(): void;
}

export interface OpenOptions {
  /** Open without write access; never creates or migrates anything (read commands). */
  readonly?: boolean;
  /** Run PRAGMA quick_check first and refuse a damaged store (controller start). */
  check?: boolean;
}

const log = logger("store");

export function openStore(path: string, opts: OpenOptions = {}): Store {
  if (path !== ":memory:") prepareFile(path, Boolean(opts.readonly));
  const db = connect(path, Boolean(opts.readonly));
  try {
    db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs()}`);
    if (opts.check) {
      const problems = quickCheck(db);
      if (problems.length)
        throw new StoreError(
          `store ${path} is damaged (quick_check: ${problems.slice(0, 3).join("; ")}${problems.length > 3 ? `; … ${problems.length - 3} more` : ""}): ${DAMAGED_ADVICE}`,
        );
    }
    if (!opts.readonly) {
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
    }
    db.exec("PRAGMA foreign_keys = ON");
    if (!opts.readonly) migrate(db);
    else db.query("SELECT count(*) FROM sqlite_master").get(); // opening is lazy: fail here, not later
  } catch (err) {
    db.close();
    if (err instanceof StoreError) throw err;
    throw new StoreError(`cannot use store ${path}: ${explain(err)}`, { cause: err });
  }
  return wrap(db, path);
}

/**
 * A missing store is created 0600 by writers only (specs may hold secrets); readers say there is
 * none. An existing 0-byte file is refused: SQLite would silently treat it as a new, empty store,
 * and the tasks the operator expects there would be gone without a word.
 */
function prepareFile(path: string, readonly: boolean): void {
  if (!existsSync(path)) {
    if (readonly) throw new StoreError(`no store at ${path} (nothing submitted yet?)`);
    mkdirSync(dirname(path), { recursive: true });
    closeSync(openSync(path, "a", 0o600));
    chmodSync(path, 0o600);
    return;
  }
  const st = statSync(path);
  if (!st.isFile()) throw new StoreError(`store ${path} is not a regular file`);
  if (st.size === 0 && !existsSync(`${path}-wal`))
    throw new StoreError(
      `store ${path} is an empty (0-byte) file, not a store; refusing to start over in it: ${DAMAGED_ADVICE}`,
    );
}

function connect(path: string, readonly: boolean): Database {
  try {
    if (!readonly) return new Database(path, { create: true, readwrite: true, strict: true });
    const db = new Database(path, { readonly: true, strict: true });
    try {
      db.query("SELECT count(*) FROM sqlite_master").get();
      return db;
    } catch (err) {
      db.close();
      if ((err as { code?: string }).code !== "SQLITE_CANTOPEN") throw err;
      // A WAL store on a read-only filesystem: SQLite cannot create the -shm index beside it.
      // Nobody can write there either, so reading the file as immutable is exact, unless a -wal
      // with commits lies beside it: immutable would skip them, so that stays an error.
      if (existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0) throw err;
      return new Database(`file:${uriPath(path)}?immutable=1`, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
    }
  } catch (err) {
    throw new StoreError(`cannot open store ${path}: ${explain(err)}`, { cause: err });
  }
}

const SQLITE_OPEN_READONLY = 0x1;
const SQLITE_OPEN_URI = 0x40;

function uriPath(path: string): string {
  return path.replace(/%/g, "%25").replace(/\?/g, "%3f").replace(/#/g, "%23");
}

/** SQLite's own words, with advice when they mean the file is not a sound store. */
function explain(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const msg = e?.message ?? String(err);
  if (e?.code === "SQLITE_NOTADB" || e?.code === "SQLITE_CORRUPT" || /malformed|not a database/i.test(msg))
    return `${msg}: the file is damaged or is not an oyster store; ${DAMAGED_ADVICE}`;
  if (storeFault(err))
    return `${msg}: the disk holding the store is full or failing (SQLite needs room for its -wal and -shm files beside it); free some space and start again`;
  return msg;
}

/** PRAGMA quick_check: [] when sound, else SQLite's findings (capped). */
export function quickCheck(db: Db, max = 20): string[] {
  const rows = db.query(`PRAGMA quick_check(${max})`).all() as Record<string, string>[];
  return findings(rows);
}

/** quick_check / integrity_check rows as one finding per line (SQLite packs several in a row). */
export function findings(rows: Record<string, unknown>[]): string[] {
  const lines = rows
    .flatMap((r) => String(Object.values(r)[0]).split("\n"))
    .map((l) => l.trim())
    .filter((l) => l && !/^\*\*\* in database/.test(l));
  return lines.length === 1 && lines[0] === "ok" ? [] : lines;
}

function wrap(db: Database, path: string): Store {
  const health = createStoreHealth();
  const changes = db.query("SELECT total_changes() AS n");
  const total = () => (changes.get() as { n: number }).n;
  // Every failed statement that reveals a disk problem is counted and logged once per change,
  // then rethrown: the loop that ran it records the failure and tries again next tick.
  const guard = <T>(run: () => T, write: boolean): T => {
    const before = write ? total() : 0;
    try {
      const r = run();
      // Only a transaction that changed rows proves the disk takes writes again; an empty one
      // commits without touching the disk even when it is full.
      if (write && total() !== before && health.wrote()) log.info(`store ${path} is writable again`);
      return r;
    } catch (err) {
      const was = health.get().state;
      const kind = health.failed(err);
      if (kind) {
        metrics.storeErrors.inc({ kind });
        if (was !== kind) log.error(`${describeFault(kind, path)}: ${(err as Error).message}`);
      }
      throw err;
    }
  };
  return {
    db,
    path,
    tx: (fn) => guard(() => transaction(db, fn), true),
    read: (fn) => guard(() => transaction(db, fn, "DEFERRED"), false),
    health: health.get,
    probeWrite() {
      if (health.get().state === "ok") return;
      try {
        guard(() => transaction(db, (d) => setSetting(d, "store_probe_at", String(Date.now()))), true);
      } catch {
        // Still failing: the verdict stays, the next probe tries again.
      }
    },
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
