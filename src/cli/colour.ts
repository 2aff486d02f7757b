/**
 * Colour for STATUS cells, only on a terminal: never with NO_COLOR set (https://no-color.org),
 * never when stdout is piped or redirected, so scripts and `| grep` see plain text.
 */
export function colourEnabled(stream: { isTTY?: boolean } = process.stdout, env = process.env): boolean {
  return !env.NO_COLOR && stream.isTTY === true;
}

const CODES: Record<string, string> = {
  // Good news green, trouble red, in progress cyan/blue, waiting yellow, ended by hand grey.
  succeeded: "32",
  online: "32",
  CLOSED: "32",
  running: "36",
  dispatched: "34",
  launching: "34",
  pending: "33",
  draining: "33",
  HALF_OPEN: "33",
  failed: "31",
  dead: "31;1",
  lost: "31",
  offline: "31",
  OPEN: "31",
  blocked: "35",
  cancelled: "90",
  unknown: "90",
};

/** The cell wrapped in its colour (the text is already terminal-safe), or unchanged. */
export function paintStatus(cell: string, enabled: boolean): string {
  const code = enabled ? CODES[cell] : undefined;
  return code ? `\u001b[${code}m${cell}\u001b[0m` : cell;
}
