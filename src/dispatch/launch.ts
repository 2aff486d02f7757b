/**
 * Launch decisions, pure: whose fault a failed start is, whether the node may have started the
 * run anyway, what to do next, and when a lost run's task may run again. No I/O: the scheduler
 * and the reaper act on these answers, `test/dispatch/launch.test.ts` covers them with values.
 */

import { executorBreakerKey, nodeBreakerKey } from "./breaker.ts";
import type { RunEndReason } from "./run-end.ts";

/** The transport's error kinds (TransportError.kind), plus "local" for errors raised before any I/O. */
export type FailureKind =
  | "connect"
  | "host_key"
  | "auth"
  | "timeout"
  | "command"
  | "protocol"
  | "closed"
  | "local";

export interface LaunchFailure {
  kind: FailureKind;
  message: string;
}

export interface Classification {
  /**
   * Whose breaker the failure charges. `node`: the node's disk, permissions, agent, replies or
   * network — other nodes can run the same executor. `executor`: the executor itself is wrong
   * wherever it runs (not configured, a bad argv template): only this counts fleet-wide.
   */
  blame: "node" | "executor";
  /**
   * Whether the node may have started the run: the request was sent and the answer was lost
   * (timeout, dropped channel, unreadable reply, a start already in progress). Such a run is
   * never relaunched under a new run id; it is resolved by asking the node.
   */
  maybeStarted: boolean;
}

/** errno codes that describe the node's filesystem or process table, never the executor. */
const NODE_ERRNO =
  /\b(ENOSPC|EDQUOT|EROFS|EIO|EACCES|EPERM|ENOTDIR|EISDIR|EEXIST|EMFILE|ENFILE|ENOMEM|EAGAIN|ELOOP|ENAMETOOLONG)\b/;
/** Start errors that mean the request reached the node and a run may be underway there. */
const IN_PROGRESS = /already being started|timed out waiting for run/;
/** Errors the executor's own configuration causes on every node alike. */
const EXECUTOR_FAULT = /executor "[^"]*" is not configured|placeholder|template/i;

export function classifyLaunchFailure(f: LaunchFailure): Classification {
  switch (f.kind) {
    // Never reached the node's oyster: nothing can be running.
    case "connect":
    case "host_key":
    case "auth":
      return { blame: "node", maybeStarted: false };
    // Sent, answer lost or garbled: the node may be running it.
    case "timeout":
    case "closed":
    case "protocol":
      return { blame: "node", maybeStarted: true };
    case "local":
      return { blame: EXECUTOR_FAULT.test(f.message) ? "executor" : "node", maybeStarted: false };
    case "command": {
      if (IN_PROGRESS.test(f.message)) return { blame: "node", maybeStarted: true };
      if (NODE_ERRNO.test(f.message)) return { blame: "node", maybeStarted: false };
      if (EXECUTOR_FAULT.test(f.message)) return { blame: "executor", maybeStarted: false };
      // An error the node's oyster reported that names neither: a broken binary or agent on that
      // node. Charging the node keeps one bad node from idling the fleet (issue 10.7).
      return { blame: "node", maybeStarted: false };
    }
  }
}

/** The breakers a launch on `node` of `executor` answers to: a success counts on both. */
export function launchBreakers(l: { node: string; executor: string }): [string, string] {
  return [nodeBreakerKey(l.node), executorBreakerKey(l.executor)];
}

/**
 * What a failed launch is charged with: the reason it is recorded under and the one breaker it
 * counts against. Only failures the executor causes count on the fleet-wide executor breaker.
 */
export function launchFailureCharge(
  blame: Classification["blame"],
  l: { node: string; executor: string },
): { reason: Extract<RunEndReason, "executor_failed" | "node_failed">; breaker: string } {
  return blame === "executor"
    ? { reason: "executor_failed", breaker: executorBreakerKey(l.executor) }
    : { reason: "node_failed", breaker: nodeBreakerKey(l.node) };
}

export type LaunchStep =
  /** Nothing can be running: requeue the task without spending an attempt. */
  | { kind: "requeue" }
  /** Ask again with the same run id: the node answers a repeated start with the run's status. */
  | { kind: "retry"; timeoutMs: number }
  /** Out of time: leave the run `launching` (lease and locks held); the reaper asks the node. */
  | { kind: "unresolved" };

/** Start requests per launch at most (the first plus retries with the same run id). */
export const MAX_START_TRIES = 3;

/**
 * After start request number `tries` failed: requeue when the node cannot have started the run,
 * else retry with the same run id while the launch's deadline and try budget allow.
 * `earlierMaybeStarted`: an earlier request of this launch may have started the run (its answer
 * was lost). A later one that never reached the node (sshd gone meanwhile) proves nothing about
 * that first request, so the launch stays unresolved rather than requeued.
 */
export function nextLaunchStep(
  c: Classification,
  tries: number,
  msLeft: number,
  earlierMaybeStarted = false,
): LaunchStep {
  if (!c.maybeStarted && !earlierMaybeStarted) return { kind: "requeue" };
  if (tries < MAX_START_TRIES && msLeft > 0) return { kind: "retry", timeoutMs: msLeft };
  return { kind: "unresolved" };
}

/** What the node reports about a lost run after it was asked to kill it. */
export type KillCheck = "gone" | "still_lost" | "unknown";

/**
 * A lost run (its wrapper died; the executor's group may live on) keeps its lease and `modifies`
 * locks until the kill is confirmed. `release` ends it; `hold` leaves it for the next sweep.
 */
export function lostRunStep(check: KillCheck): "release" | "hold" {
  return check === "gone" ? "release" : "hold";
}

/**
 * Runs on an unreachable node are held (their processes may live on) until the node has not
 * answered for `graceMs`: then the node is declared dead by policy and its runs are lost.
 * `graceMs` 0 means never: hold until the node answers or an operator acts.
 */
export function nodeDeclaredDead(
  lastSeenAt: number | null,
  since: number,
  now: number,
  graceMs: number,
): boolean {
  if (graceMs <= 0) return false;
  return now - Math.max(lastSeenAt ?? 0, since) >= graceMs;
}
