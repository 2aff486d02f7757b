/** Where framed lines go: logfile.ts's RotatingLog (which imports this file, so not named here). */
interface LineSink {
  write(text: string): void;
}

/**
 * Service output in its log file, one record a line: `<ISO time> <stream> <text>`, where stream
 * is `stdout`, `stderr` or `oyster` (the supervisor's own notes). So every line says when it was
 * written and where it came from, and `oyster supervise logs` can merge several services' files.
 */
export type LogStream = "stdout" | "stderr" | "oyster";

/** A partial line longer than this is written as a line of its own (a service without `\n`). */
const MAX_PENDING_CHARS = 64 * 1024;

export function frameLine(at: Date, stream: LogStream, text: string): string {
  return `${at.toISOString()} ${stream} ${text}\n`;
}

const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (stdout|stderr|oyster) /;

/** The epoch ms of a framed line, or null for a line of another shape (a log from before). */
export function lineTime(line: string): number | null {
  const m = LINE.exec(line);
  return m?.[1] ? Date.parse(m[1]) : null;
}

/**
 * Cuts one output stream into framed lines. Bytes are decoded as a stream, so a UTF-8 character
 * split across two chunks stays whole; an unfinished last line is written when the stream ends.
 */
export class LineFramer {
  private pending = "";
  private readonly decoder = new TextDecoder("utf-8");

  constructor(
    private readonly log: LineSink,
    private readonly stream: LogStream,
    private readonly now: () => Date = () => new Date(),
  ) {}

  push(chunk: Uint8Array): void {
    this.add(this.decoder.decode(chunk, { stream: true }));
  }

  end(): void {
    this.add(this.decoder.decode());
    if (this.pending) this.flushPending();
  }

  private add(text: string): void {
    if (!text) return;
    const parts = (this.pending + text).split("\n");
    this.pending = parts.pop() ?? "";
    if (parts.length) {
      const at = this.now();
      this.log.write(parts.map((p) => frameLine(at, this.stream, stripCr(p))).join(""));
    }
    if (this.pending.length > MAX_PENDING_CHARS) this.flushPending();
  }

  private flushPending(): void {
    this.log.write(frameLine(this.now(), this.stream, stripCr(this.pending)));
    this.pending = "";
  }
}

/** CRLF output ends its lines with `\r`; it is the line end, not content. */
const stripCr = (s: string) => (s.endsWith("\r") ? s.slice(0, -1) : s);
