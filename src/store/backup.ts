import { Database } from "bun:sqlite";
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { type Db, findings, quickCheck, StoreError } from "./db.ts";

/**
 * A consistent copy of a live store, written the only safe way: VACUUM INTO a 0600 temp file
 * beside the target (a read transaction, so the controller keeps writing meanwhile), check the
 * copy, fsync, then rename. A failure at any step leaves no file at `target`.
 */
export function backupStore(db: Db, target: string): { path: string; bytes: number } {
  const path = resolve(target);
  if (existsSync(path))
    throw new StoreError(`${path} already exists; choose a new name (a backup never overwrites)`);
  if (!existsSync(dirname(path))) throw new StoreError(`directory ${dirname(path)} does not exist`);
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  try {
    // VACUUM INTO accepts an existing empty file: creating it first makes it 0600 from the start.
    closeSync(openSync(tmp, "wx", 0o600));
    db.query("VACUUM INTO ?").run(tmp);
    const copy = new Database(tmp, { readonly: true });
    try {
      const problems = quickCheck(copy);
      if (problems.length) throw new StoreError(`the copy failed its check: ${problems.join("; ")}`);
    } finally {
      copy.close();
    }
    const fd = openSync(tmp, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    if (err instanceof StoreError) throw err;
    throw new StoreError(`backup to ${path} failed: ${(err as Error).message}`, { cause: err });
  }
  return { path, bytes: statSync(path).size };
}

export interface StoreReport {
  path: string;
  ok: boolean;
  problems: string[];
  bytes: number;
  schema_version: number;
  tasks: number;
  runs: number;
}

/** PRAGMA integrity_check (the thorough one) plus what the store holds. */
export function checkStore(db: Db, path: string): StoreReport {
  let problems: string[];
  try {
    problems = findings(db.query("PRAGMA integrity_check(50)").all() as Record<string, string>[]);
  } catch (err) {
    // Damage to the schema itself makes the check throw instead of listing findings.
    problems = [(err as Error).message];
  }
  const count = (table: string): number => {
    try {
      return (db.query(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    } catch {
      return -1;
    }
  };
  return {
    path,
    ok: problems.length === 0,
    problems,
    bytes: statSync(path).size,
    schema_version: userVersion(db),
    tasks: count("tasks"),
    runs: count("runs"),
  };
}

function userVersion(db: Db): number {
  try {
    return (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
  } catch {
    return -1;
  }
}
