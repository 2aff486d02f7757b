/**
 * The controller–node protocol's messages: what `oyster exec` and the agent session answer, and
 * what the controller sends. Shared by both sides (src/node writes them, src/remote carries them),
 * so neither side imports the other for its vocabulary.
 */
/** What `oyster exec` writes to `$OYSTER_HOME/runs/<run_id>/status.json` and `list` reports. */
export interface RunStatus {
  run_id: string;
  task_id: string;
  /** Process group leader of the executor (kill targets -pid). */
  pid: number | null;
  /** The `oyster exec` wrapper that waits for the executor and writes status. */
  wrapper_pid: number | null;
  /**
   * `lost` is computed by `list`, never written: the status says running but the wrapper is gone.
   */
  state: "starting" | "running" | "succeeded" | "failed" | "killed" | "lost";
  started_at: number;
  heartbeat_at: number;
  finished_at: number | null;
  exit_code: number | null;
  wrapper_version: string;
  /**
   * How long the run has been going, measured by the wrapper on the node's monotonic clock at
   * its last write: timeouts use this, never the difference of two machines' wall clocks.
   * Absent from older wrappers; the controller then measures from when it first saw the run.
   */
  elapsed_ms?: number;
}

/** The node's answer to `abandon`: whether the run id is now fenced off, else the run it has. */
export interface AbandonReport {
  abandoned: boolean;
  /** The run a start created first (abandoned: false); null while that start is under way. */
  status: RunStatus | null;
  note: string;
}

export interface KillReport {
  signalled: boolean;
  note?: string;
}

/** A node's kill answer as a KillReport; an older node that does not say is taken at its word that it found the run. */
export function toKillReport(v: unknown): KillReport {
  const r = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
  const signalled = typeof r.signalled === "boolean" ? r.signalled : r.found === true;
  return typeof r.note === "string" ? { signalled, note: r.note } : { signalled };
}

/**
 * Which runs `list` reports. Empty: every run directory. Otherwise the union of the runs not yet
 * over (starting, running, lost) when `active`, and the runs named in `runs`: what the reaper
 * needs, so a node holding 20k finished runs answers with a few lines instead of megabytes.
 * A node too old to filter answers with every run, which is a superset and still correct.
 */
export interface ListFilter {
  active?: boolean;
  runs?: readonly string[];
}

/** One range of a run's output.log (issue 13.1): at most 256 KiB of base64 per reply. */
export interface OutputChunk {
  run_id: string;
  /** False when the node has no directory for the run (never started there, or pruned). */
  exists: boolean;
  /** Byte offset of `data` in output.log. */
  offset: number;
  /** output.log's size when read; more may come while the run goes on. */
  size: number;
  /** The bytes, base64. */
  data: string;
  /** The run's status on the node with liveness applied, or null when it has none. */
  status: RunStatus | null;
}

export interface ReadOutputRequest {
  offset?: number;
  limit?: number;
  /** Start at the last N lines instead of `offset`. */
  tail_lines?: number;
  /** Long poll: wait up to this long for output past `offset` while the run goes on. */
  wait_ms?: number;
}

/** Which finished run directories to remove (issue 13.8); see src/node/read.ts pruneRuns. */
export interface PruneRequest {
  /** Runs the controller knows are final; nothing else is a candidate. */
  runs: string[];
  older_than_ms?: number;
  keep?: number;
}

export interface PruneReport {
  removed: string[];
  kept: { run_id: string; why: string }[];
  missing: number;
}

export interface StartRequest {
  run_id: string;
  task_id: string;
  /** The spec text, written to `<run_dir>/spec.md` on the node. */
  spec: string;
  /**
   * Executor argv template. The node substitutes `{spec}`, `{run_dir}`, `{output}` and every key
   * of `vars` inside each argument; the argv is exec'd directly, never passed through a shell.
   */
  argv: string[];
  vars: Record<string, string>;
  env?: Record<string, string>;
}

export interface Resources {
  load1: number;
  load5: number;
  load15: number;
  mem_total_mb: number;
  mem_avail_mb: number;
  swap_total_mb: number;
  swap_used_pct: number;
  cpus: number;
  platform: string;
}
