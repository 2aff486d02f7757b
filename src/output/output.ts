import type { OutputChunk, RunStatus } from "../protocol/messages.ts";
import type { Transport } from "../remote/transport.ts";
import type { RunRow } from "../store/runs.ts";

/**
 * A run's output as a stream of byte chunks read from its node in bounded ranges (issue 13.1),
 * shared by `oyster logs` and `GET /api/tasks/ID/logs`. Nothing here holds more than one range
 * (256 KiB) at a time: the consumer writes a chunk out before the next is asked for.
 */

/** How often a follower asks a node that cannot long-poll (older binary) for more. */
export const FOLLOW_POLL_MS = 100;
/** A follower's long poll: the node answers as soon as output arrives, or after this. */
export const FOLLOW_WAIT_MS = 1_000;

/**
 * Each range leaves short-lived copies behind (ssh packets, the reply line, its base64 string,
 * the decoded bytes: about 2 MB per 256 KiB range), allocated outside the JS heap where JSC does
 * not count them: a 200 MB read over SSH grew the process by 150-210 MB before they were
 * collected (Bun.gc(false) did not help). A full collection after every GC_EVERY_BYTES read
 * (about 10 ms each) held the growth near 18 MB at 50 MB/s (measured: every range +10 MB at
 * 14 MB/s; every 2 MiB +29 MB).
 */
const GC_EVERY_BYTES = 512 * 1024;
/** Bytes asked per range: below the node's 256 KiB cap, so less garbage is in flight at once. */
const STREAM_RANGE_BYTES = 128 * 1024;

export interface RunChoice {
  run?: string;
  attempt?: number;
}

/** The run `choice` names among a task's runs (latest when it names none), or why there is none. */
export function pickRun(taskId: string, runs: readonly RunRow[], choice: RunChoice): RunRow | string {
  if (choice.run !== undefined) {
    return runs.find((r) => r.run_id === choice.run) ?? `task "${taskId}" has no run "${choice.run}"`;
  }
  if (choice.attempt !== undefined) {
    return (
      runs.find((r) => r.attempt === choice.attempt) ??
      `task "${taskId}" has no attempt ${choice.attempt} (it has ${runs.length ? runs.map((r) => r.attempt).join(", ") : "none"})`
    );
  }
  const latest = [...runs].sort((a, b) => b.attempt - a.attempt || b.created_at - a.created_at)[0];
  return latest ?? `task "${taskId}" has no runs yet`;
}

export interface StreamOptions {
  /** Start at the last N lines. */
  tailLines?: number;
  /** Keep reading until the run is over on its node. */
  follow?: boolean;
  pollMs?: number;
  /** Long poll per request while following (default FOLLOW_WAIT_MS). */
  waitMs?: number;
  /** Bytes per request (default: the node's cap, 256 KiB). */
  limit?: number;
  signal?: AbortSignal;
}

/** How the stream ended: the run's last status as its node reported it. */
export interface StreamEnd {
  status: RunStatus | null;
  bytes: number;
}

export class OutputMissingError extends Error {
  override name = "OutputMissingError";
}

const over = (s: RunStatus | null) =>
  s !== null &&
  (s.state === "succeeded" || s.state === "failed" || s.state === "killed" || s.state === "lost");

/**
 * Yields the output of run `runId` from `t` chunk by chunk; returns the run's status at the end.
 * Without `follow` it stops at the size the file had when last read; with it, once the node says
 * the run is over and everything written before that was read (the status is read before the
 * file on the node, so a final status means the file was complete when its bytes were read).
 */
export async function* streamOutput(
  t: Transport,
  runId: string,
  opts: StreamOptions = {},
): AsyncGenerator<Uint8Array, StreamEnd> {
  if (!t.readOutput) throw new Error(`node "${t.node}" cannot read run output (its transport predates it)`);
  let tail = opts.tailLines;
  let offset = 0;
  let bytes = 0;
  for (;;) {
    if (opts.signal?.aborted) return { status: null, bytes };
    const asked = performance.now();
    const limit = opts.limit ?? STREAM_RANGE_BYTES;
    const c: OutputChunk = await t.readOutput(
      runId,
      tail !== undefined
        ? { tail_lines: tail, limit }
        : { offset, limit, ...(opts.follow ? { wait_ms: opts.waitMs ?? FOLLOW_WAIT_MS } : {}) },
    );
    tail = undefined;
    if (!c.exists)
      throw new OutputMissingError(
        `run ${runId} has no directory on node "${t.node}" (removed by retention, or it never started there)`,
      );
    const data = Buffer.from(c.data, "base64");
    if (Math.floor((bytes + data.length) / GC_EVERY_BYTES) > Math.floor(bytes / GC_EVERY_BYTES)) Bun.gc(true);
    offset = c.offset + data.length;
    bytes += data.length;
    if (data.length) yield data;
    if (offset < c.size) continue;
    if (!opts.follow || over(c.status)) return { status: c.status, bytes };
    // An empty answer that came back at once is a node that does not long-poll: pace ourselves.
    const pollMs = opts.pollMs ?? FOLLOW_POLL_MS;
    if (!data.length && performance.now() - asked < pollMs / 2) await sleep(pollMs, opts.signal);
  }
}

/** The exit status a follower ends with: the run's exit code, 1 when it failed without one. */
export function exitStatusOf(s: RunStatus | null): number {
  if (!s) return 1;
  if (s.state === "succeeded") return 0;
  if (typeof s.exit_code === "number") return s.exit_code;
  return s.state === "killed" ? 137 : 1;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
