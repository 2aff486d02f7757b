/** What `oyster supervise status --json` prints and `fetchSupervisorStatus` returns, one per service. */
export type ServiceState =
  /** Spawned, not yet healthy (within or past its grace period). */
  | "starting"
  /** Up; healthy if it has a health check. */
  | "running"
  /** Waiting out a restart delay after a failure. */
  | "backoff"
  /** Being stopped (SIGTERM sent, waiting for the group to go). */
  | "stopping"
  /** Stopped by the operator (`supervise stop NAME`) or by shutdown. */
  | "stopped";

export type HealthState = "healthy" | "unhealthy" | "unknown" | "none";

export interface ServiceStatus {
  name: string;
  /** "local", or the node name for a remote service. */
  host: string;
  /** Process id (for a remote service: its process group id on the node), or null when not running. */
  pid: number | null;
  status: ServiceState;
  /** Epoch ms when the current instance started, or null. */
  started_at: number | null;
  health: HealthState;
  /** Total restarts since the supervisor started. */
  restarts: number;
  /** Failures in the current crash loop (0 when stable). */
  streak: number;
  /** Epoch ms of the next scheduled start while in backoff, else null. */
  next_start_at: number | null;
  /** Last exit or failure reason, e.g. "exit 1", "signal SIGKILL", "unhealthy: HTTP 503". */
  last_error: string | null;
  /** How the last instance ended ("exit 1", "signal SIGKILL"), or null before any exit. */
  last_exit: string | null;
  /** Epoch ms of that exit, or null. */
  last_exit_at: number | null;
  /** Crash-loop alerts sent since the supervisor started (one per loop). */
  crash_loop_alerts: number;
  log_file: string;
}

/** The control socket's file name inside the state directory. */
export const SOCKET_NAME = "supervise.sock";
