/**
 * What the controller needs from a node, whatever carries it (local spawn, ssh2 agent session).
 * Implemented by src/remote/local.ts and src/remote/ssh/*.ts; created by src/remote/index.ts.
 */
import type * as msg from "../protocol/messages.ts";

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
  start(req: msg.StartRequest): Promise<msg.RunStatus>;
  /** The node's run directories (all, or those `filter` asks for), in one round trip. */
  list(filter?: msg.ListFilter): Promise<msg.RunStatus[]>;
  /**
   * SIGTERM the run's process group, then SIGKILL after a grace. Unknown run ids are not an
   * error. `signalled` says whether a signal actually reached the group.
   */
  kill(runId: string): Promise<msg.KillReport>;
  /**
   * Kill what is left of a run the node no longer knows, by the process group recorded at start
   * (only processes carrying the run's OYSTER_RUN_ID). `gone`: none of them is left.
   */
  killGroup?(runId: string, pgid: number): Promise<{ gone: boolean; note: string }>;
  /**
   * Fence off a run id the controller launched but the node never showed (a ghost), so a start
   * request held up on the way cannot run it later. `abandoned: false`: the run exists after all.
   */
  abandon?(runId: string): Promise<msg.AbandonReport>;
  resources(): Promise<msg.Resources>;
  /** `oyster --version` on the node (VERSION_STRING). */
  version(): Promise<string>;
  /** Pushed when a run ends on the node (agent session); may never fire: the reaper reconciles. */
  onRunFinished(cb: (status: msg.RunStatus) => void): void;
  /**
   * The node's session came back after dropping (ssh only): reconcile with list(). Pushed ends
   * that happened while it was down are not replayed.
   */
  onReconnected?(cb: () => void): void;
  /** One bounded range of a run's output.log (absent on transports that predate it). */
  readOutput?(runId: string, req: msg.ReadOutputRequest): Promise<msg.OutputChunk>;
  /** Remove finished run directories the controller names (never one the node sees active). */
  prune?(req: msg.PruneRequest): Promise<msg.PruneReport>;
  /** Replace the node's binary with `localPath` (temp file + rename). */
  upload?(localPath: string): Promise<void>;
  close(): Promise<void>;
}
