import { terminalSafe } from "../terminal-safe.ts";

/**
 * Output bytes made fit for a terminal, chunk by chunk: valid UTF-8 passes (then terminalSafe
 * makes escape and control characters inert, keeping `\n` and `\t`), every byte that is not part
 * of a valid UTF-8 sequence becomes `\xNN`. A sequence split across two chunks is held back and
 * joined with the next, so the chunking of the reads never shows.
 */
export class SafeTextDecoder {
  private held: Uint8Array = new Uint8Array(0);
  private readonly strict = new TextDecoder("utf-8", { fatal: true });

  push(chunk: Uint8Array): string {
    const buf = this.held.length ? concat(this.held, chunk) : chunk;
    const cut = incompleteTail(buf);
    this.held = buf.slice(cut);
    return terminalSafe(this.decode(buf.subarray(0, cut)), { keepNewlines: true });
  }

  /** What was held back at the end of the stream (an unfinished sequence) as `\xNN`. */
  end(): string {
    const rest = this.held;
    this.held = new Uint8Array(0);
    return [...rest].map(hex).join("");
  }

  private decode(b: Uint8Array): string {
    try {
      return this.strict.decode(b);
    } catch {
      return decodeLenient(b);
    }
  }
}

function hex(byte: number): string {
  return `\\x${byte.toString(16).padStart(2, "0")}`;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Length of the UTF-8 sequence a lead byte starts, 0 for a byte that cannot lead one. */
function seqLen(b: number): number {
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b >= 0xe0 && b <= 0xef) return 3;
  if (b >= 0xf0 && b <= 0xf4) return 4;
  return 0;
}

const isCont = (b: number | undefined) => b !== undefined && (b & 0xc0) === 0x80;

/** Where an unfinished (so far valid) sequence at the end of `b` begins; b.length when there is none. */
function incompleteTail(b: Uint8Array): number {
  for (let back = 1; back <= 3 && back <= b.length; back++) {
    const i = b.length - back;
    const byte = b[i]!;
    if (isCont(byte)) continue;
    const len = seqLen(byte);
    return len > back ? i : b.length;
  }
  return b.length;
}

/** Is there a valid sequence of `len` bytes at `i` (no overlongs, surrogates or > U+10FFFF)? */
function validAt(b: Uint8Array, i: number, len: number): boolean {
  if (i + len > b.length) return false;
  for (let k = 1; k < len; k++) if (!isCont(b[i + k])) return false;
  const lead = b[i]!;
  const second = b[i + 1]!;
  if (lead === 0xe0 && second < 0xa0) return false;
  if (lead === 0xed && second > 0x9f) return false;
  if (lead === 0xf0 && second < 0x90) return false;
  if (lead === 0xf4 && second > 0x8f) return false;
  return true;
}

function decodeLenient(b: Uint8Array): string {
  const parts: string[] = [];
  const dec = new TextDecoder();
  let run = 0;
  let i = 0;
  while (i < b.length) {
    const len = seqLen(b[i]!);
    if (len === 1) {
      i++;
      continue;
    }
    if (len > 1 && validAt(b, i, len)) {
      i += len;
      continue;
    }
    if (i > run) parts.push(dec.decode(b.subarray(run, i)));
    parts.push(hex(b[i]!));
    i++;
    run = i;
  }
  if (run < b.length) parts.push(dec.decode(b.subarray(run)));
  return parts.join("");
}
