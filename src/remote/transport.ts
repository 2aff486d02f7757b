/**
 * What the controller needs from a node, whatever carries it (local spawn, ssh2 agent session).
 * Implemented by src/remote/local.ts and src/remote/ssh/*.ts; created by src/remote/index.ts.
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

export class TransportError extends Error {
  override name = "TransportError";
  constructor(
    message: string,
    /** A short machine-readable kind for dispatch reasons and metrics. */
    readonly kind: "connect" | "host_key" | "auth" | "timeout" | "command" | "protocol" | "closed",
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface Transport {
  readonly node: string;
  /** Write the spec and detach the executor; resolves once status.json exists. */
  start(req: StartRequest): Promise<RunStatus>;
  /** Every run directory on the node, in one round trip. */
  list(): Promise<RunStatus[]>;
  /** SIGTERM the run's process group, then SIGKILL after a grace. Unknown run ids are not an error. */
  kill(runId: string): Promise<void>;
  /**
   * Kill what is left of a run the node no longer knows, by the process group recorded at start
   * (only processes carrying the run's OYSTER_RUN_ID). `gone`: none of them is left.
   */
  killGroup?(runId: string, pgid: number): Promise<{ gone: boolean; note: string }>;
  resources(): Promise<Resources>;
  /** `oyster --version` on the node (VERSION_STRING). */
  version(): Promise<string>;
  /** Pushed when a run ends on the node (agent session); may never fire: the reaper reconciles. */
  onRunFinished(cb: (status: RunStatus) => void): void;
  /**
   * The node's session came back after dropping (ssh only): reconcile with list(). Pushed ends
   * that happened while it was down are not replayed.
   */
  onReconnected?(cb: () => void): void;
  /** Replace the node's binary with `localPath` (temp file + rename). */
  upload?(localPath: string): Promise<void>;
  close(): Promise<void>;
}
