import {
  closeSync,
  existsSync,
  fchmodSync,
  fstatSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { frameLine, LineFramer, type LogStream } from "./lines.ts";

/**
 * A service's log file, rotated by size: `name.log` → `name.log.1` → … → `name.log.<keep>`.
 * Writes are synchronous appends on one fd, so lines from stdout and stderr never interleave
 * mid-chunk and a crash loses nothing buffered.
 */
export class RotatingLog {
  private fd: number;
  private size: number;

  constructor(
    readonly path: string,
    private readonly maxBytes: number,
    private readonly keep: number,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openLog(path);
    this.size = fstatSync(this.fd).size;
  }

  write(chunk: Uint8Array | string): void {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    if (this.size > 0 && this.size + buf.length > this.maxBytes) this.rotate();
    try {
      writeSync(this.fd, buf);
      this.size += buf.length;
    } catch {
      // A full disk must not take the supervisor down; the service keeps running.
    }
  }

  /** A line from the supervisor itself (stream `oyster`), among the service's output. */
  note(msg: string): void {
    this.write(frameLine(new Date(), "oyster", msg.replace(/\n/g, " ")));
  }

  private rotate(): void {
    closeSync(this.fd);
    if (this.keep === 0) rmSync(this.path, { force: true });
    else {
      for (let i = this.keep - 1; i >= 1; i--) {
        const from = `${this.path}.${i}`;
        if (existsSync(from)) renameSync(from, `${this.path}.${i + 1}`);
      }
      renameSync(this.path, `${this.path}.1`);
    }
    this.fd = openLog(this.path);
    this.size = 0;
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {}
  }
}

/**
 * Service output may hold secrets: 0600 whatever the umask, and a log left 0644 by an older
 * version is tightened on open.
 */
function openLog(path: string): number {
  const fd = openSync(path, "a", 0o600);
  try {
    fchmodSync(fd, 0o600);
  } catch {
    // Not our file (another owner): it keeps its mode; writing still works.
  }
  return fd;
}

/** Copy a child's output stream into the log, line by line and marked, until it ends. */
export async function pipeToLog(
  stream: AsyncIterable<Uint8Array> | null | undefined,
  log: RotatingLog,
  kind: LogStream,
): Promise<void> {
  if (!stream) return;
  const lines = new LineFramer(log, kind);
  try {
    for await (const chunk of stream) lines.push(chunk);
  } catch {
    // The stream breaks when the process dies; nothing to do.
  }
  lines.end();
}
