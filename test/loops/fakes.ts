import { BUILTIN_EXECUTORS, configSchema } from "../../src/config/schema.ts";
import type { ControllerContext } from "../../src/loops/context.ts";
import type { Resources, RunStatus } from "../../src/protocol/messages.ts";
import type { Transport } from "../../src/remote/transport.ts";
import type { Store } from "../../src/store/db.ts";
import { memoryStore } from "../helpers/store.ts";

/**
 * A node as a loop sees it: each method a test does not give throws, so a tick that reaches for
 * something the test did not expect fails loudly instead of getting a silent default.
 */
export function fakeTransport(node: string, methods: Partial<Omit<Transport, "node">> = {}): Transport {
  const missing = (m: string) => () => Promise.reject(new Error(`fake ${node}: ${m} not faked`));
  return {
    node,
    start: missing("start"),
    list: missing("list"),
    kill: missing("kill"),
    resources: missing("resources"),
    version: missing("version"),
    onRunFinished: () => {},
    close: async () => {},
    ...methods,
  };
}

export const calm: Resources = {
  load1: 0.1,
  load5: 0.1,
  load15: 0.1,
  mem_total_mb: 16_000,
  mem_avail_mb: 8_000,
  swap_total_mb: 0,
  swap_used_pct: 0,
  cpus: 8,
  platform: "linux",
};

/** What a node's `list` says about one run. */
export function runStatus(
  run_id: string,
  task_id: string,
  state: RunStatus["state"],
  extra: Partial<RunStatus> = {},
): RunStatus {
  const over = state !== "running" && state !== "starting";
  return {
    run_id,
    task_id,
    pid: 4242,
    wrapper_pid: 4241,
    state,
    started_at: 1_000,
    heartbeat_at: 1_000,
    finished_at: over ? 2_000 : null,
    exit_code: over ? 0 : null,
    wrapper_version: "test",
    ...extra,
  };
}

/**
 * The whole context on an in-memory store with a clock the test moves (`clock.t`), and what the
 * loops told the outside world: webhook payloads and scheduler wake-ups. Each loop takes the
 * slice of it its …Deps type names.
 */
export function loopWorld(
  transports: Transport[] = [],
  config: Record<string, unknown> = {},
  store: Store = memoryStore(),
) {
  const clock = { t: 10_000 };
  const notified: Record<string, unknown>[] = [];
  const wakes = { n: 0 };
  const ctx: ControllerContext = {
    store,
    config: configSchema.parse({
      nodes: [{ name: "n1", transport: "local" }],
      executors: BUILTIN_EXECUTORS,
      ...config,
    }),
    transports: new Map(transports.map((t) => [t.node, t])),
    now: () => clock.t,
    notify: (p) => notified.push(p),
    launching: new Set(),
    wakeScheduler: () => wakes.n++,
  };
  return { ctx, store, clock, notified, wakes };
}

/** Kinds of the events recorded so far, oldest first (optionally of one source). */
export function eventKinds(store: Store, source?: string): string[] {
  const rows = store.db
    .query(`SELECT kind FROM events ${source ? "WHERE source = ?" : ""} ORDER BY id`)
    .all(...(source ? [source] : [])) as { kind: string }[];
  return rows.map((r) => r.kind);
}

export function runRow(store: Store, runId: string): { state: string; reason: string | null } {
  return store.db.query("SELECT state, reason FROM runs WHERE run_id = ?").get(runId) as {
    state: string;
    reason: string | null;
  };
}
