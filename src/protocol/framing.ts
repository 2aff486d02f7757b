/**
 * JSON-lines framing shared by both ends of the agent protocol (src/remote/ssh/agent-session.ts
 * and src/node/agent.ts). Pure: no I/O, unit-tested.
 *
 * Lines are split on `\n` (0x0A) only. A JS line reader such as readline also splits on U+2028 and
 * U+2029, which JSON.stringify leaves raw inside strings, so a spec containing them arrived cut in
 * two. Splitting bytes is safe for UTF-8: 0x0A never occurs inside a multi-byte sequence.
 */

/** The longest line either end accepts (4 MiB): far above any real reply, far below a memory problem. */
export const MAX_LINE_BYTES = 4 * 1024 * 1024;

export type Frame = { kind: "line"; text: string } | { kind: "overflow"; bytes: number };

/**
 * Incremental splitter. Each chunk is scanned once (O(n) over the stream, not a rescan of the whole
 * buffer per chunk), and a partial line is held only up to `maxLineBytes`: past that the line is
 * reported once as `overflow` and its remaining bytes are dropped up to the next `\n`.
 */
export class LineFramer {
  private parts: Buffer[] = [];
  private held = 0;
  /** Inside an over-long line: drop bytes until its `\n`. */
  private skipping = false;
  private skipped = 0;

  constructor(private readonly maxLineBytes = MAX_LINE_BYTES) {}

  /** Feed one chunk; returns the frames it completed, in order. */
  push(chunk: Buffer | Uint8Array | string): Frame[] {
    const buf = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : Buffer.from(chunk);
    const out: Frame[] = [];
    let start = 0;
    while (start < buf.length) {
      const nl = buf.indexOf(0x0a, start);
      const end = nl === -1 ? buf.length : nl;
      const piece = buf.subarray(start, end);
      if (this.skipping) {
        this.skipped += piece.length;
      } else if (this.held + piece.length > this.maxLineBytes) {
        this.skipping = true;
        this.skipped = this.held + piece.length;
        this.parts = [];
        this.held = 0;
      } else if (piece.length) {
        this.parts.push(piece);
        this.held += piece.length;
      }
      if (nl === -1) break;
      if (this.skipping) {
        out.push({ kind: "overflow", bytes: this.skipped });
        this.skipping = false;
        this.skipped = 0;
      } else {
        out.push({ kind: "line", text: Buffer.concat(this.parts, this.held).toString("utf8") });
        this.parts = [];
        this.held = 0;
      }
      start = nl + 1;
    }
    return out;
  }

  /** True while an over-long line is being dropped (its overflow frame comes at its `\n`). */
  get overflowing(): boolean {
    return this.skipping;
  }

  /** Bytes of the line in progress (held or dropped). */
  get pending(): number {
    return this.skipping ? this.skipped : this.held;
  }

  reset(): void {
    this.parts = [];
    this.held = 0;
    this.skipping = false;
    this.skipped = 0;
  }
}

/**
 * JSON.stringify with U+2028/U+2029 escaped, so the line stays one line even for a peer whose
 * reader still splits on them (an older agent). The escapes are valid JSON and parse back the same.
 */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(value)
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029")}\n`;
}
