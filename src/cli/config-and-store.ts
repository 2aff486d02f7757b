import { existsSync } from "node:fs";
import { ConfigError, type LoadedConfig, loadConfig } from "../config/load.ts";
import { busyTimeoutMs, openStore, type Store, StoreError } from "../store/db.ts";
import { describeHolder, leaseHolder } from "../store/lease.ts";
import { CliError } from "./errors.ts";

/** Load config for a command, turning config problems into user errors. */
export function cliConfig(args: { config?: string }): LoadedConfig {
  try {
    return loadConfig(args.config);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, 1, { cause: err });
    throw err;
  }
}

/**
 * Open a short-lived store connection for one command (same pragmas as the controller) and
 * close it when `fn` is done, so CLI commands never linger on the database. Read commands pass
 * `readonly`: they never create, migrate or write a store, so they work on a read-only copy.
 */
export async function withStore<T>(
  args: { config?: string },
  fn: (store: Store, loaded: LoadedConfig) => T | Promise<T>,
  opts: { readonly?: boolean } = {},
): Promise<T> {
  const loaded = cliConfig(args);
  let store: Store;
  try {
    store = openStore(loaded.config.store, { readonly: opts.readonly });
  } catch (err) {
    // Opening may wait for the lock too (migrations, switching to WAL).
    const locked = lockedError(err instanceof StoreError ? err.cause : err, loaded.config.store);
    if (locked) throw locked;
    if (err instanceof StoreError) throw new CliError(err.message, 1, { cause: err });
    throw err;
  }
  try {
    return await fn(store, loaded);
  } catch (err) {
    throw lockedError(err, loaded.config.store) ?? err;
  } finally {
    store.close();
  }
}

/**
 * `withStore` for commands that only look (read-only: nothing created, migrated or written): a missing store is an error naming the path, never
 * a new empty file (a typo in --config or the wrong directory would otherwise look like "no tasks").
 */
export async function readStore<T>(
  args: { config?: string },
  fn: (store: Store, loaded: LoadedConfig) => T | Promise<T>,
): Promise<T> {
  const { store } = cliConfig(args).config;
  if (!existsSync(store))
    throw new CliError(`there is no store at ${store} (nothing submitted here yet, or another --config?)`);
  return withStore(args, fn, { readonly: true });
}

/** "database is locked" after the full busy wait, told with who holds the store. */
function lockedError(err: unknown, path: string): CliError | null {
  if ((err as { code?: string } | null)?.code !== "SQLITE_BUSY") return null;
  const { held, holder } = leaseHolder(path);
  const who = held
    ? `its controller holds it: ${describeHolder(holder)}`
    : "no controller holds its lease, so another process has it open for writing (a sqlite3 shell, a stuck `oyster` command?)";
  return new CliError(
    `store ${path} stayed locked for ${busyTimeoutMs() / 1000} s (database is locked); ${who}`,
    1,
    { cause: err },
  );
}
