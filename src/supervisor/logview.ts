import { terminalSafe } from "../terminal-safe.ts";
import { lineTime } from "./lines.ts";

/**
 * `oyster supervise logs` with no name: every service's lines, each prefixed with the service
 * (`name@node` for a remote one, as in the status table), like `docker compose logs`. Pure text
 * work; reading and following the files is src/supervisor/follow.ts.
 */
export interface ServiceLog {
  /** As printed in the table: `api`, `worker@gpu1`. */
  label: string;
  text: string;
}

export function prefixLine(label: string, width: number, line: string): string {
  return `${label.padEnd(width)} | ${terminalSafe(line)}\n`;
}

/**
 * The last lines of several services, merged in time order (a line without a time, from an older
 * log, keeps the time of the line before it), then each prefixed.
 */
export function mergeTails(logs: ServiceLog[], width: number): string {
  const all: { t: number; seq: number; label: string; line: string }[] = [];
  let seq = 0;
  for (const l of logs) {
    let t = 0;
    for (const line of splitLines(l.text)) {
      t = lineTime(line) ?? t;
      all.push({ t, seq: seq++, label: l.label, line });
    }
  }
  all.sort((a, b) => a.t - b.t || a.seq - b.seq);
  return all.map((e) => prefixLine(e.label, width, e.line)).join("");
}

/** Cuts followed chunks into whole lines for one service; a partial line waits for its end. */
export function linePrefixer(label: string, width: number): (chunk: string) => string {
  let pending = "";
  return (chunk) => {
    const parts = (pending + chunk).split("\n");
    pending = parts.pop() ?? "";
    return parts.map((p) => prefixLine(label, width, p)).join("");
  };
}

function splitLines(text: string): string[] {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}
