import type { NodeConfig } from "../config/schema.ts";
import { ACTIVE_RUN_STATES, sqlIn } from "../dispatch/states.ts";
import type { Resources } from "../protocol/messages.ts";
import type { Db } from "./db.ts";
import { recordEvent } from "./events.ts";

/**
 * Nodes come from config and are recorded here so every process (status, the API, metrics)
 * sees their state: online, draining, last resource reading, version.
 */
export interface NodeRow {
  name: string;
  transport: string;
  host: string | null;
  slots: number;
  executors: string | null;
  online: number;
  draining: number;
  running: number;
  version: string | null;
  load1: number | null;
  load5: number | null;
  load15: number | null;
  mem_avail_mb: number | null;
  swap_pct: number | null;
  last_probe_at: number | null;
  last_seen_at: number | null;
  last_error: string | null;
  updated_at: number;
}

const INSERT_NODE =
  "INSERT INTO nodes (name, transport, host, slots, executors, updated_at) VALUES (?, ?, ?, ?, ?, ?)";

/** The columns a configured node is recorded with, in INSERT_NODE's order. */
function nodeRow(n: NodeConfig, now: number): [string, string, string | null, number, string | null, number] {
  return [
    n.name,
    n.transport,
    n.transport === "local" ? null : `${n.user ? `${n.user}@` : ""}${n.host}:${n.port}`,
    n.slots,
    n.executors ? JSON.stringify(n.executors) : null,
    now,
  ];
}

/**
 * Set or clear the drain flag of the nodes named, in the caller's transaction. A node the store
 * has not recorded yet (no controller ran with it) is recorded first, so the flag is there when
 * the controller starts; each change is an event.
 */
export function setDrainFlags(db: Db, nodes: NodeConfig[], draining: boolean, now: number): void {
  const add = db.query(INSERT_NODE.replace("INSERT", "INSERT OR IGNORE"));
  for (const n of nodes) {
    add.run(...nodeRow(n, now));
    setDraining(db, n.name, draining, now);
    recordEvent(db, { kind: draining ? "node_drained" : "node_undrained", source: "cli", node: n.name }, now);
  }
}

/**
 * Insert new nodes, refresh existing ones from config. A node gone from config is deleted when
 * it has no active run, else kept with 0 slots so its runs can still be reaped.
 */
export function upsertConfiguredNodes(db: Db, nodes: NodeConfig[], now: number): void {
  const up = db.query(
    `${INSERT_NODE}
     ON CONFLICT(name) DO UPDATE SET transport = excluded.transport, host = excluded.host, slots = excluded.slots,
       executors = excluded.executors, updated_at = excluded.updated_at`,
  );
  for (const n of nodes) up.run(...nodeRow(n, now));
  const names = new Set(nodes.map((n) => n.name));
  for (const r of db.query("SELECT name FROM nodes").all() as { name: string }[]) {
    if (names.has(r.name)) continue;
    const active = db
      .query(`SELECT 1 FROM runs WHERE node = ? AND state IN ${sqlIn(ACTIVE_RUN_STATES)} LIMIT 1`)
      .get(r.name);
    if (active)
      db.query("UPDATE nodes SET slots = 0, online = 0, updated_at = ? WHERE name = ?").run(now, r.name);
    else db.query("DELETE FROM nodes WHERE name = ?").run(r.name);
  }
}

export function listNodes(db: Db): NodeRow[] {
  return db.query("SELECT * FROM nodes ORDER BY name").all() as NodeRow[];
}

export function getNode(db: Db, name: string): NodeRow | null {
  return db.query("SELECT * FROM nodes WHERE name = ?").get(name) as NodeRow | null;
}

/** What the controller keeps and shows of a node's resource report (the columns of `nodes`). */
export type ResourceReading = Pick<
  Resources,
  "load1" | "load5" | "load15" | "mem_avail_mb" | "swap_used_pct"
>;

export function resourceReading(r: Resources): ResourceReading {
  return {
    load1: r.load1,
    load5: r.load5,
    load15: r.load15,
    mem_avail_mb: r.mem_avail_mb,
    swap_used_pct: r.swap_used_pct,
  };
}

export interface ProbeResult {
  ok: boolean;
  version?: string;
  resources?: ResourceReading;
  error?: string;
}

export function recordProbe(db: Db, name: string, p: ProbeResult, now: number): void {
  if (p.ok) {
    const r = p.resources;
    db.query(
      `UPDATE nodes SET online = 1, last_probe_at = ?, last_seen_at = ?, last_error = NULL,
         version = COALESCE(?, version), load1 = ?, load5 = ?, load15 = ?, mem_avail_mb = ?, swap_pct = ?, updated_at = ?
       WHERE name = ?`,
    ).run(
      now,
      now,
      p.version ?? null,
      r?.load1 ?? null,
      r?.load5 ?? null,
      r?.load15 ?? null,
      r?.mem_avail_mb ?? null,
      r?.swap_used_pct ?? null,
      now,
      name,
    );
  } else {
    db.query(
      "UPDATE nodes SET online = 0, last_probe_at = ?, last_error = ?, updated_at = ? WHERE name = ?",
    ).run(now, p.error ?? "unreachable", now, name);
  }
}

export function setNodeOnline(
  db: Db,
  name: string,
  online: boolean,
  error: string | null,
  now: number,
): void {
  db.query(
    "UPDATE nodes SET online = ?, last_error = ?, last_seen_at = CASE WHEN ? THEN ? ELSE last_seen_at END, updated_at = ? WHERE name = ?",
  ).run(online ? 1 : 0, error, online ? 1 : 0, now, now, name);
}

export function setDraining(db: Db, name: string, draining: boolean, now = Date.now()): boolean {
  return (
    db.query("UPDATE nodes SET draining = ?, updated_at = ? WHERE name = ?").run(draining ? 1 : 0, now, name)
      .changes > 0
  );
}

/**
 * The nodes as config names them, overlaid with what the store last recorded about each, for
 * read-only listings (`oyster nodes` writes nothing). Stored nodes gone from config are kept
 * while the store still lists them: their runs may still need reaping.
 */
export function configuredNodes(stored: NodeRow[], nodes: NodeConfig[], now: number): NodeRow[] {
  const byName = new Map(stored.map((r) => [r.name, r]));
  const out: NodeRow[] = nodes.map((n) => {
    const fromConfig = {
      name: n.name,
      transport: n.transport,
      host: n.transport === "local" ? null : `${n.user ? `${n.user}@` : ""}${n.host}:${n.port}`,
      slots: n.slots,
      executors: n.executors ? JSON.stringify(n.executors) : null,
    };
    const row = byName.get(n.name);
    if (row) return { ...row, ...fromConfig };
    return {
      ...fromConfig,
      online: 0,
      draining: 0,
      running: 0,
      version: null,
      load1: null,
      load5: null,
      load15: null,
      mem_avail_mb: null,
      swap_pct: null,
      last_probe_at: null,
      last_seen_at: null,
      last_error: null,
      updated_at: now,
    };
  });
  const names = new Set(nodes.map((n) => n.name));
  out.push(...stored.filter((r) => !names.has(r.name)));
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
