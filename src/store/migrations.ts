import type { Database } from "bun:sqlite";

/**
 * Versioned migrations, applied in order at open; PRAGMA user_version records how far we got.
 * Never edit a released migration: append a new one.
 * Times are integer milliseconds since the epoch.
 */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE tasks (
    task_id TEXT PRIMARY KEY,
    project TEXT NOT NULL DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 5,
    estimated_minutes INTEGER,
    executor TEXT NOT NULL,
    command TEXT,
    body TEXT NOT NULL DEFAULT '',
    source TEXT,
    timeout_ms INTEGER,
    max_attempts INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
      CHECK (status IN ('pending','dispatched','running','succeeded','failed','dead','blocked','cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before INTEGER NOT NULL DEFAULT 0,
    last_reason TEXT,
    blocked_by TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER
  );
  CREATE INDEX tasks_status ON tasks(status, priority, created_at);
  CREATE INDEX tasks_project ON tasks(project, status);

  -- depends_on has no foreign key: a dependency may name a task that arrives later.
  CREATE TABLE task_deps (
    task_id TEXT NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
    depends_on TEXT NOT NULL,
    PRIMARY KEY (task_id, depends_on)
  ) WITHOUT ROWID;
  CREATE INDEX task_deps_rev ON task_deps(depends_on);

  CREATE TABLE task_paths (
    task_id TEXT NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    PRIMARY KEY (task_id, path)
  ) WITHOUT ROWID;

  CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    transport TEXT NOT NULL,
    host TEXT,
    slots INTEGER NOT NULL,
    executors TEXT,
    online INTEGER NOT NULL DEFAULT 0,
    draining INTEGER NOT NULL DEFAULT 0,
    running INTEGER NOT NULL DEFAULT 0,
    version TEXT,
    load1 REAL, load5 REAL, load15 REAL,
    mem_avail_mb REAL,
    swap_pct REAL,
    last_probe_at INTEGER,
    last_seen_at INTEGER,
    last_error TEXT,
    updated_at INTEGER NOT NULL
  );

  CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks(task_id) ON DELETE CASCADE,
    node TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL
      CHECK (state IN ('launching','dispatched','running','succeeded','failed','lost','cancelled')),
    pid INTEGER,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    heartbeat_at INTEGER,
    finished_at INTEGER,
    exit_code INTEGER,
    reason TEXT,
    timeout_ms INTEGER,
    alerted_at INTEGER,
    UNIQUE (task_id, attempt)
  );
  CREATE INDEX runs_task ON runs(task_id);
  CREATE INDEX runs_active ON runs(state) WHERE state IN ('launching','dispatched','running');
  CREATE INDEX runs_node ON runs(node, state);

  -- One lease per task: the primary key is what makes a second concurrent launch impossible.
  CREATE TABLE leases (
    task_id TEXT PRIMARY KEY REFERENCES tasks(task_id) ON DELETE CASCADE,
    run_id TEXT NOT NULL UNIQUE REFERENCES runs(run_id) ON DELETE CASCADE,
    node TEXT NOT NULL,
    acquired_at INTEGER NOT NULL
  );

  CREATE TABLE file_locks (
    path TEXT PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    task_id TEXT NOT NULL,
    acquired_at INTEGER NOT NULL
  );
  CREATE INDEX file_locks_run ON file_locks(run_id);

  CREATE TABLE breakers (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('CLOSED','OPEN','HALF_OPEN')),
    failures INTEGER NOT NULL DEFAULT 0,
    opened_at INTEGER,
    last_failure_at INTEGER,
    probe_in_flight INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
  );

  -- kind 'launch' rows are launch outcomes and feed the success rate; kind 'refusal' rows say
  -- why ready work was held back (draining, pause, ...) and do not, so a pause never trips the gate.
  CREATE TABLE dispatch_events (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL DEFAULT 'launch' CHECK (kind IN ('launch','refusal')),
    success INTEGER NOT NULL,
    reason TEXT,
    task_id TEXT,
    node TEXT
  );
  CREATE INDEX dispatch_events_ts ON dispatch_events(ts, kind);

  CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    task_id TEXT,
    run_id TEXT,
    node TEXT,
    data TEXT
  );
  CREATE INDEX events_ts ON events(ts);
  CREATE INDEX events_kind ON events(kind, ts);

  CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  `,
  // 2: healing. revivals caps the guardian's auto-retry of dead tasks; projects remembers when a
  // project's completion was announced so project_complete fires once per completion.
  `
  ALTER TABLE tasks ADD COLUMN revivals INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE projects (
    name TEXT PRIMARY KEY,
    completed_at INTEGER NOT NULL
  );
  CREATE INDEX runs_alert ON runs(state, started_at) WHERE state = 'running' AND alerted_at IS NULL;
  `,
  // 3: a spec's user keys (front matter under `x-`), as JSON; NULL when it has none.
  `
  ALTER TABLE tasks ADD COLUMN extra TEXT;
  `,
  // 4: what made a node server_overloaded (high_cpu_load, insufficient_memory, high_swap), for
  // the stats' causes and events (issue 12.4); NULL for every other reason.
  `
  ALTER TABLE dispatch_events ADD COLUMN cause TEXT;
  `,
  // 5: endings. own_max_attempts is the spec's own max_attempts (NULL: the config default), a
  // cap the guardian's auto_revive never passes; cancel_requested_at marks a cancel whose kill
  // the controller has not sent yet (the task shows cancelled only once it has).
  `
  ALTER TABLE tasks ADD COLUMN own_max_attempts INTEGER;
  ALTER TABLE tasks ADD COLUMN cancel_requested_at INTEGER;
  `,
  // 6: the long-running alert counts from created_at, the controller's own clock (started_at is
  // the node's: a node whose clock runs ahead or behind would alert early or never).
  `
  DROP INDEX runs_alert;
  CREATE INDEX runs_alert ON runs(state, created_at) WHERE state = 'running' AND alerted_at IS NULL;
  `,
];

export function migrate(db: Database): void {
  const current = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `store schema version ${current} is newer than this oyster (${MIGRATIONS.length}); upgrade the binary`,
    );
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.exec("BEGIN IMMEDIATE");
    try {
      // Another process may have migrated while we waited for the lock.
      const now = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
      if (now > v) {
        db.exec("COMMIT");
        continue;
      }
      db.exec(MIGRATIONS[v]!);
      db.exec(`PRAGMA user_version = ${v + 1}`);
      db.exec("COMMIT");
    } catch (err) {
      db.exec("ROLLBACK");
      throw err;
    }
  }
}
