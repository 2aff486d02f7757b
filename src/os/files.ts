import { randomBytes } from "node:crypto";
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";

/**
 * Private files, never written or read through a symlink: the one place oyster writes a file
 * atomically (a run directory's files on a node, the supervisor's registry and URL file).
 *
 * Specs may hold secrets, so run directories are 0700 and their files 0600 whatever the umask
 * (open/mkdir modes are masked by the umask, which can only remove bits; fchmod/chmod make it
 * explicit). The executor runs as the same user in the same directory, so it can plant a
 * symlink at any name there: every write either creates a fresh file with O_EXCL|O_NOFOLLOW
 * (and renames it into place: rename replaces a symlink, it never follows one) or opens with
 * O_NOFOLLOW; every read uses O_NOFOLLOW|O_NONBLOCK (a planted FIFO must not hang the reader)
 * and reads at most a cap.
 */
export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

const { O_WRONLY, O_RDONLY, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = constants;

/** Create `path` (and missing parents) 0700; an existing one must be a real directory and is made 0700. */
export function ensurePrivateDir(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: DIR_MODE });
  try {
    mkdirSync(path, { mode: DIR_MODE });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const st = lstatSync(path);
    if (!st.isDirectory())
      throw new Error(`${path} exists and is not a directory (a symlink or file was planted there)`);
  }
  chmodSync(path, DIR_MODE);
}

export interface WriteOptions {
  /** fsync before closing, for a file that must survive a machine crash with its content. */
  sync?: boolean;
}

/** A new 0600 file at `path`; fails (EEXIST) if anything, a symlink included, is already there. */
export function createPrivateFile(path: string, data: string | Uint8Array, opts: WriteOptions = {}): void {
  const fd = openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, FILE_MODE);
  try {
    fchmodSync(fd, FILE_MODE);
    writeAll(fd, data);
    if (opts.sync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replace `path` atomically: a fresh temp file with an unguessable name in the same directory,
 * then rename. Readers see the old content or the new, and a symlink planted at `path` is
 * replaced, not written through.
 */
export function replacePrivateFile(path: string, data: string | Uint8Array, opts: WriteOptions = {}): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  createPrivateFile(tmp, data, opts);
  try {
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // Nothing more to clean; the rename error is the one to report.
    }
    throw err;
  }
}

/**
 * Create `path` whole, exclusively: a fresh temp file linked into place. link() never replaces
 * anything, so of two writers racing exactly one wins, and a reader sees no file or the
 * winner's complete content, never half of it. False when something was already there.
 */
export function linkPrivateFile(path: string, data: string | Uint8Array): boolean {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  createPrivateFile(tmp, data);
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return false;
  } finally {
    unlinkSync(tmp);
  }
}

/** An append-only fd on `path` (created 0600); refuses a symlink (ELOOP). Caller closes it. */
export function openPrivateAppend(path: string): number {
  const fd = openSync(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, FILE_MODE);
  try {
    fchmodSync(fd, FILE_MODE);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

export class UnsafeFileError extends Error {
  override name = "UnsafeFileError";
}

/**
 * Read a regular file without following a symlink, at most `maxBytes`. Throws ENOENT-style
 * errors as they come (the caller decides what "missing" means) and UnsafeFileError for a
 * symlink, a non-regular file or one over the cap.
 */
export function readPrivateFile(path: string, maxBytes: number): string {
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP")
      throw new UnsafeFileError(`${path} is a symlink; not following it`);
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UnsafeFileError(`${path} is not a regular file`);
    if (st.size > maxBytes)
      throw new UnsafeFileError(`${path} is ${st.size} bytes, over the ${maxBytes} cap`);
    // The file may grow after fstat: read one byte past the cap to notice.
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n > maxBytes) throw new UnsafeFileError(`${path} grew over the ${maxBytes} cap while read`);
    }
    return buf.subarray(0, n).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, data: string | Uint8Array): void {
  const buf = typeof data === "string" ? Buffer.from(data) : data;
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}
