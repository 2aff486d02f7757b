import { Database } from "bun:sqlite";
import { openStore, type Store } from "../../src/store/db.ts";

/** An in-memory store with the real migrations, for tests of store and loop logic. */
export function memoryStore(): Store {
  return openStore(":memory:");
}

/** Insert a task directly (fixture for tests that are not about intake). */
export function addTask(
  store: Store,
  t: {
    id: string;
    deps?: string[];
    paths?: string[];
    priority?: number;
    max_attempts?: number;
    executor?: string;
    status?: string;
  },
  now = 1_000,
): void {
  store.tx((db) => {
    db.query(
      "INSERT INTO tasks (task_id, executor, command, max_attempts, priority, status, created_at, updated_at) VALUES (?, ?, 'true', ?, ?, ?, ?, ?)",
    ).run(t.id, t.executor ?? "shell", t.max_attempts ?? 3, t.priority ?? 5, t.status ?? "pending", now, now);
    for (const d of t.deps ?? [])
      db.query("INSERT INTO task_deps (task_id, depends_on) VALUES (?, ?)").run(t.id, d);
    for (const p of t.paths ?? [])
      db.query("INSERT INTO task_paths (task_id, path) VALUES (?, ?)").run(t.id, p);
  });
}

export function addNode(store: Store, name: string, slots = 2, now = 1_000): void {
  store.tx((db) =>
    db
      .query("INSERT INTO nodes (name, transport, slots, online, updated_at) VALUES (?, 'local', ?, 1, ?)")
      .run(name, slots, now),
  );
}

export function taskStatus(
  store: Store,
  id: string,
): { status: string; attempts: number; not_before: number } {
  return store.db.query("SELECT status, attempts, not_before FROM tasks WHERE task_id = ?").get(id) as {
    status: string;
    attempts: number;
    not_before: number;
  };
}

/**
 * Read a store file the way an operator's tool would, from outside the controller: a fresh
 * read-only connection per query, so no test ever holds the database open.
 */
export function storeReader(path: string) {
  const q = <T>(sql: string, ...params: (string | number)[]): T[] => {
    const d = new Database(path, { readonly: true });
    try {
      return d.query(sql).all(...params) as T[];
    } finally {
      d.close();
    }
  };
  const count = (sql: string, ...params: (string | number)[]) => q<{ n: number }>(sql, ...params)[0]!.n;
  return { q, count };
}
