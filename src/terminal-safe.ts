/**
 * Text that reaches a person's terminal made inert. Task ids, project names, node names, reasons
 * and log lines come from specs, nodes and remote controllers; printed raw, an escape sequence in
 * one of them can recolour the screen, retitle the window, hide lines, or (with some terminals)
 * answer back into the shell. One function for every human printer (tables, `tasks show`,
 * `status`, log lines); `--json` output is never passed through it and stays exact.
 *
 * ESC becomes `\e`; `\n` `\r` `\t` their usual escapes; every other C0 control, DEL and the C1
 * controls (U+0080–U+009F, e.g. U+009B, the one-character CSI) become `\xNN`; bidirectional
 * overrides and isolates (which reorder what is shown, "Trojan Source") become `\uNNNN`.
 * With `keepNewlines`, `\n` and `\t` pass (multi-line messages, stack traces).
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { "\u001b": "\\e", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

export function terminalSafe(text: string, opts: { keepNewlines?: boolean } = {}): string {
  return text.replace(UNSAFE, (ch) => {
    if (opts.keepNewlines && (ch === "\n" || ch === "\t")) return ch;
    const named = NAMED[ch];
    if (named) return named;
    const code = ch.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}
