/**
 * How a service instance is run: locally (a detached process group) or on a node over SSH.
 * The Service state machine only sees this interface, so both behave the same to it.
 */
export interface Instance {
  /** Process (group) id; for a remote instance the group id on the node. */
  readonly pid: number | null;
  /** Resolves once the instance is gone (exit, or the SSH channel closed) with a reason. */
  readonly exited: Promise<string>;
  /** SIGTERM to the group, wait up to timeoutMs, SIGKILL what is left; resolves when gone. */
  stop(timeoutMs: number): Promise<void>;
  /** SIGKILL to the group now (second Ctrl+C). */
  kill(): void;
}

export interface CheckResult {
  ok: boolean;
  /** Why it failed: "HTTP 503", "timeout", "refused", … */
  reason?: string;
}

export interface Runner {
  /** Where it runs: "local" or the node name. */
  readonly host: string;
  /** Start one instance; throws when it cannot start (spawn error, node unreachable). */
  start(): Promise<Instance>;
  /** One health probe with the configured timeout. */
  check(): Promise<CheckResult>;
  /** Release connections (remote). */
  close(): Promise<void>;
}
