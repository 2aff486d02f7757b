import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { sleep } from "../os/deadline.ts";

const FOLLOW_POLL_MS = 200;

/** The last `lines` lines of a file (whole file when small), without reading a huge log whole. */
export function tailLines(path: string, lines: number): string {
  if (!existsSync(path)) return "";
  const size = statSync(path).size;
  const want = Math.min(size, Math.max(64 * 1024, lines * 512));
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(want);
    readSync(fd, buf, 0, want, size - want);
    const text = buf.toString("utf8");
    const all = text.split("\n");
    if (all[all.length - 1] === "") all.pop();
    return all.slice(-lines).join("\n") + (all.length ? "\n" : "");
  } finally {
    closeSync(fd);
  }
}

/**
 * Print what is appended to a log file until `signal` aborts, following rotation (a new inode or
 * a shrunken file starts over from its beginning), like `tail -F`.
 */
export async function follow(path: string, write: (s: string) => void, signal: AbortSignal): Promise<void> {
  let ino = existsSync(path) ? statSync(path).ino : -1;
  let pos = existsSync(path) ? statSync(path).size : 0;
  while (!signal.aborted) {
    await sleep(FOLLOW_POLL_MS);
    if (!existsSync(path)) continue;
    const st = statSync(path);
    if (st.ino !== ino || st.size < pos) {
      ino = st.ino;
      pos = 0;
    }
    if (st.size > pos) {
      const fd = openSync(path, "r");
      try {
        const buf = Buffer.alloc(st.size - pos);
        const n = readSync(fd, buf, 0, buf.length, pos);
        pos += n;
        write(buf.subarray(0, n).toString("utf8"));
      } finally {
        closeSync(fd);
      }
    }
  }
}
