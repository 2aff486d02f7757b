import { closeSync, constants, fstatSync, openSync, readSync, rmSync } from "node:fs";
import { join } from "node:path";
import { sleep } from "../os/deadline.ts";
import { UnsafeFileError } from "../os/files.ts";
import type { OutputChunk, PruneReport, PruneRequest, RunStatus } from "../protocol/messages.ts";
import { isAbandoned } from "./claim.ts";
import { FILES, runDir, validateRunId } from "./home.ts";
import { isFinal, liveStatus } from "./status.ts";

/**
 * A run's output read in bounded ranges, and finished run directories pruned (issue 13.1, 13.8).
 *
 * One reply carries at most MAX_READ_BYTES (base64 grows it by 4/3, well under the agent's 4 MiB
 * line cap), so a 1 GB output.log is read in ranges and never held whole by the node, the
 * controller or the CLI. The file is opened with O_NOFOLLOW|O_NONBLOCK like every run file
 * (src/os/files.ts): the executor could plant a symlink or a FIFO at output.log.
 */
export const MAX_READ_BYTES = 256 * 1024;
/** How far back `tail_lines` looks for line starts: a tail request costs at most this much reading. */
export const MAX_TAIL_SCAN_BYTES = 8 * 1024 * 1024;
const SCAN_CHUNK = 64 * 1024;

export interface ReadRequest {
  run_id: string;
  /** Byte offset to read from (ignored with tail_lines). */
  offset?: number;
  /** At most this many bytes (capped at MAX_READ_BYTES). */
  limit?: number;
  /** Start at the beginning of the last N lines instead of `offset`. */
  tail_lines?: number;
  /**
   * Long poll for followers: when there is nothing past `offset` yet and the run goes on, wait up
   * to this long (capped at MAX_WAIT_MS) for output or the run's end before answering.
   */
  wait_ms?: number;
}

export const MAX_WAIT_MS = 5_000;
/** How often a waiting read looks at the file again (a stat and a status read). */
const WAIT_POLL_MS = 10;

/** readOutput, waiting up to `wait_ms` when the range is empty and the run is not over. */
export async function readOutputWaiting(home: string, req: ReadRequest): Promise<OutputChunk> {
  const deadline = Date.now() + Math.min(req.wait_ms ?? 0, MAX_WAIT_MS);
  for (;;) {
    const c = readOutput(home, req);
    const over = c.status !== null && (isFinal(c.status) || c.status.state === "lost");
    if (c.data || !c.exists || over || req.tail_lines !== undefined || Date.now() >= deadline) return c;
    await sleep(WAIT_POLL_MS);
  }
}

/** Read one range of `<run_dir>/output.log`, with the run's status (null when it has none). */
export function readOutput(home: string, req: ReadRequest): OutputChunk {
  const dir = runDir(home, validateRunId(req.run_id));
  const status = liveStatus(dir);
  const limit = Math.min(Math.max(1, Math.floor(req.limit ?? MAX_READ_BYTES)), MAX_READ_BYTES);
  let fd: number;
  try {
    fd = openSync(join(dir, FILES.output), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ELOOP")
      throw new UnsafeFileError(`output of run ${req.run_id} is a symlink; not following it`);
    if (code !== "ENOENT") throw err;
    // No output yet (starting) or no such run: the caller tells them apart by `status`/`exists`.
    return { run_id: req.run_id, exists: status !== null, offset: 0, size: 0, data: "", status };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UnsafeFileError(`output of run ${req.run_id} is not a regular file`);
    const size = st.size;
    const offset =
      req.tail_lines !== undefined
        ? tailStart(fd, size, Math.max(0, Math.floor(req.tail_lines)))
        : Math.min(Math.max(0, Math.floor(req.offset ?? 0)), size);
    const buf = Buffer.alloc(Math.min(limit, Math.max(0, size - offset)));
    let n = 0;
    while (n < buf.length) {
      const r = readSync(fd, buf, n, buf.length - n, offset + n);
      if (r === 0) break;
      n += r;
    }
    return {
      run_id: req.run_id,
      exists: true,
      offset,
      size,
      data: buf.subarray(0, n).toString("base64"),
      status,
    };
  } finally {
    closeSync(fd);
  }
}

/**
 * The offset where the last `lines` lines of a file of `size` bytes begin (a trailing newline
 * ends the last line, it does not start an empty one). Scans backwards at most
 * MAX_TAIL_SCAN_BYTES: past that the tail starts there.
 */
function tailStart(fd: number, size: number, lines: number): number {
  if (lines === 0 || size === 0) return size;
  const buf = Buffer.alloc(SCAN_CHUNK);
  let end = size;
  let seen = 0;
  const floor = Math.max(0, size - MAX_TAIL_SCAN_BYTES);
  let first = true;
  while (end > floor) {
    const start = Math.max(floor, end - SCAN_CHUNK);
    const n = readSync(fd, buf, 0, end - start, start);
    for (let i = n - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a) continue;
      // The newline that ends the file closes the last line; it is not a line start.
      if (first && start + i === size - 1) continue;
      if (++seen === lines) return start + i + 1;
    }
    first = false;
    end = start;
  }
  return floor;
}

/**
 * Remove finished run directories. Only the runs named in `runs` (the ones the controller knows
 * are final in its store) are candidates, and of those only a directory whose own status is final
 * (or that has none: a start that never got as far as writing one, but not an abandoned run id's
 * fence, claim.ts) goes: a run the node still
 * sees running or lost stays, whatever the controller believes. `older_than_ms` and `keep` narrow
 * further (by the node's own finished_at): a directory goes when it finished more than
 * older_than_ms ago OR is beyond the newest `keep` of the candidates; with neither, every
 * candidate goes.
 */
export function pruneRuns(home: string, req: PruneRequest, now = Date.now()): PruneReport {
  const candidates: { id: string; finished: number }[] = [];
  const kept: { run_id: string; why: string }[] = [];
  let missing = 0;
  for (const raw of req.runs) {
    const id = validateRunId(raw);
    const dir = runDir(home, id);
    let s: RunStatus | null;
    try {
      fstatDir(dir);
      s = liveStatus(dir);
    } catch {
      missing++;
      continue;
    }
    if (s && !isFinal(s)) {
      kept.push({ run_id: id, why: `the node sees it ${s.state}` });
      continue;
    }
    // An abandoned run id's dir holds only its claim: removing it would let a start of it still
    // held up somewhere run the task again. It stays, unreported (it never ran).
    if (!s && isAbandoned(dir)) continue;
    candidates.push({ id, finished: s?.finished_at ?? s?.started_at ?? 0 });
  }
  candidates.sort((a, b) => b.finished - a.finished);
  const removed: string[] = [];
  const filtered = req.older_than_ms !== undefined || req.keep !== undefined;
  candidates.forEach((c, i) => {
    const old = req.older_than_ms !== undefined && now - c.finished > req.older_than_ms;
    const beyond = req.keep !== undefined && i >= req.keep;
    if (filtered && !old && !beyond) return;
    rmSync(runDir(home, c.id), { recursive: true, force: true });
    removed.push(c.id);
  });
  return { removed, kept, missing };
}

/** Throws unless `dir` exists (lstat: a symlinked run dir counts as missing, rmSync would not follow it anyway). */
function fstatDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_DIRECTORY);
  closeSync(fd);
}
