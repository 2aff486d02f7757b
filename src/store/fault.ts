/**
 * What a failed SQLite statement says about the store's disk, and the store's current verdict
 * for /health. A full disk or an I/O error is a condition of the machine, not a bug: the
 * statement fails, the caller retries on its next tick, and the verdict clears on the first
 * write that commits again.
 */
export type StoreCondition = "ok" | "disk_full" | "io_error";

export interface StoreHealth {
  state: StoreCondition;
  /** When the current fault began (ms), null while ok. */
  since: number | null;
  /** The last fault's message, kept after recovery for `oyster status`. */
  last_error: string | null;
  /** Failed statements by condition since the process started. */
  errors: { disk_full: number; io_error: number };
}

/** SQLITE_FULL (and SQLITE_IOERR_*, which is how some filesystems report ENOSPC) → a condition. */
export function storeFault(err: unknown): Exclude<StoreCondition, "ok"> | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return null;
  if (code === "SQLITE_FULL") return "disk_full";
  if (code === "SQLITE_IOERR" || code.startsWith("SQLITE_IOERR_")) return "io_error";
  return null;
}

export function describeFault(kind: Exclude<StoreCondition, "ok">, path: string): string {
  return kind === "disk_full"
    ? `the disk holding the store ${path} is full; writes are retried every tick (free some space)`
    : `I/O error on the store ${path}; writes are retried every tick (check the disk and its kernel log)`;
}

export function createStoreHealth(now: () => number = Date.now) {
  const h: StoreHealth = {
    state: "ok",
    since: null,
    last_error: null,
    errors: { disk_full: 0, io_error: 0 },
  };
  return {
    get: (): StoreHealth => ({ ...h, errors: { ...h.errors } }),
    /** A statement failed; returns the condition it revealed (null: not a disk problem). */
    failed(err: unknown): Exclude<StoreCondition, "ok"> | null {
      const kind = storeFault(err);
      if (!kind) return null;
      h.errors[kind]++;
      if (h.state !== kind) h.since = now();
      h.state = kind;
      h.last_error = err instanceof Error ? err.message : String(err);
      return kind;
    },
    /** A write reached the disk: whatever was wrong is over. */
    wrote(): boolean {
      if (h.state === "ok") return false;
      h.state = "ok";
      h.since = null;
      return true;
    },
  };
}
