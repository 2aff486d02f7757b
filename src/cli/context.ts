import { existsSync } from "node:fs";
import { ConfigError, type LoadedConfig, loadConfig } from "../config/load.ts";
import { openStore, type Store, StoreError } from "../store/db.ts";
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
 * close it when `fn` is done, so CLI commands never linger on the database.
 */
export async function withStore<T>(
  args: { config?: string },
  fn: (store: Store, loaded: LoadedConfig) => T | Promise<T>,
): Promise<T> {
  const loaded = cliConfig(args);
  let store: Store;
  try {
    store = openStore(loaded.config.store);
  } catch (err) {
    if (err instanceof StoreError) throw new CliError(err.message, 1, { cause: err });
    throw err;
  }
  try {
    return await fn(store, loaded);
  } finally {
    store.close();
  }
}

/**
 * `withStore` for commands that only look: a missing store is an error naming the path, never
 * a new empty file (a typo in --config or the wrong directory would otherwise look like "no tasks").
 */
export async function readStore<T>(
  args: { config?: string },
  fn: (store: Store, loaded: LoadedConfig) => T | Promise<T>,
): Promise<T> {
  const { store } = cliConfig(args).config;
  if (!existsSync(store))
    throw new CliError(`there is no store at ${store} (nothing submitted here yet, or another --config?)`);
  return withStore(args, fn);
}
