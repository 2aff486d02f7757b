import { Database } from "bun:sqlite";
import { chmodSync, closeSync, existsSync, openSync } from "node:fs";
import { hostname } from "node:os";
import { type Db, StoreError } from "./db.ts";
import { getSetting, setSetting } from "./settings.ts";

/**
 * One controller per store. The lease is an OS lock on `<store>.lock`, taken through SQLite's
 * own file locking (an exclusive-mode connection that holds its lock for life): the kernel
 * drops it when the process dies, even by kill -9, so a crash never blocks a restart, and it
 * works wherever bun:sqlite does, with no FFI. Who holds it (pid, host, since) is written into
 * the store, where refusals and "store is locked" messages read it.
 */
export interface LeaseHolder {
  pid: number;
  host: string;
  since: number;
}

export interface Lease {
  holder: LeaseHolder;
  /** Record the holder in the store (call once the store is open for writing). */
  record(db: Db): void;
  /** Drop the lock; clears the holder record if it is still ours. Safe to call twice. */
  release(db?: Db): void;
}

/**
 * A reader (`leaseHolder`) takes a shared lock on the lock file for an instant; a starting
 * controller waits this long for it rather than mistaking a reader for a second controller.
 */
const ACQUIRE_WAIT_MS = 2_000;

export class LeaseHeldError extends StoreError {
  override name = "LeaseHeldError";
  constructor(
    readonly storePath: string,
    readonly holder: LeaseHolder | null,
  ) {
    super(`another controller already runs on store ${storePath}: ${describeHolder(holder)}`);
  }
}

export function lockPath(storePath: string): string {
  return `${storePath}.lock`;
}

export function describeHolder(h: LeaseHolder | null): string {
  if (!h) return "its holder has not recorded itself yet (it is starting)";
  return `pid ${h.pid} on ${h.host}, since ${new Date(h.since).toISOString()}`;
}

/** Take the lease or throw LeaseHeldError naming the holder (read from the store at `storePath`). */
export function acquireLease(storePath: string, now = Date.now()): Lease {
  const path = lockPath(storePath);
  if (!existsSync(path)) {
    closeSync(openSync(path, "a", 0o600));
    chmodSync(path, 0o600);
  }
  let lock: Database;
  try {
    lock = new Database(path, { create: true, readwrite: true });
  } catch (err) {
    throw new StoreError(`cannot open the lease file ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    lock.exec(`PRAGMA busy_timeout = ${ACQUIRE_WAIT_MS}`);
    lock.exec("PRAGMA locking_mode = EXCLUSIVE");
    // BEGIN EXCLUSIVE takes the EXCLUSIVE lock at once and exclusive locking mode keeps it until
    // close. Only a brand-new lock file is written to (SQLite cannot lock a 0-byte database on
    // a full disk); afterwards nothing is, so a restart on a full disk still gets its lease.
    lock.exec("BEGIN EXCLUSIVE");
    const fresh = (lock.query("SELECT count(*) AS n FROM sqlite_master").get() as { n: number }).n === 0;
    if (fresh) lock.exec("CREATE TABLE lease (note TEXT)");
    lock.exec("COMMIT");
  } catch (err) {
    lock.close();
    if ((err as { code?: string }).code === "SQLITE_BUSY")
      throw new LeaseHeldError(storePath, recordedHolder(storePath));
    throw new StoreError(`cannot take the lease ${path}: ${(err as Error).message}`, { cause: err });
  }
  const holder: LeaseHolder = { pid: process.pid, host: hostname(), since: now };
  const value = JSON.stringify(holder);
  let released = false;
  return {
    holder,
    record: (db) => setSetting(db, "controller_lease", value, now),
    release(db) {
      if (released) return;
      released = true;
      if (db) {
        try {
          db.query("DELETE FROM settings WHERE key = 'controller_lease' AND value = ?").run(value);
        } catch {
          // Only a hint for messages; the next holder overwrites it.
        }
      }
      lock.close();
    },
  };
}

/**
 * The live holder of the lease on `storePath`, or null when no controller holds it. Looks
 * without taking the lease: a shared-lock read of the lock file fails only while it is held.
 */
export function leaseHolder(storePath: string): { held: boolean; holder: LeaseHolder | null } {
  const path = lockPath(storePath);
  if (!existsSync(path)) return { held: false, holder: null };
  let probe: Database | null = null;
  try {
    probe = new Database(path, { readonly: true });
    probe.exec("PRAGMA busy_timeout = 0");
    probe.query("SELECT count(*) FROM sqlite_master").get();
    return { held: false, holder: null };
  } catch (err) {
    if ((err as { code?: string }).code !== "SQLITE_BUSY") return { held: false, holder: null };
    return { held: true, holder: recordedHolder(storePath) };
  } finally {
    probe?.close();
  }
}

function recordedHolder(storePath: string): LeaseHolder | null {
  try {
    const db = new Database(storePath, { readonly: true });
    try {
      db.exec("PRAGMA busy_timeout = 1000");
      const v = getSetting(db, "controller_lease");
      const h = v ? (JSON.parse(v) as Partial<LeaseHolder>) : null;
      return h && typeof h.pid === "number" && typeof h.host === "string" && typeof h.since === "number"
        ? { pid: h.pid, host: h.host, since: h.since }
        : null;
    } finally {
      db.close();
    }
  } catch {
    return null;
  }
}
