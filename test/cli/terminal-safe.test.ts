import { describe, expect, test } from "bun:test";
import { formatTable } from "../../src/cli/table.ts";
import { terminalSafe } from "../../src/terminal-safe.ts";

describe("terminalSafe", () => {
  test("ESC becomes \\e and the sequence after it is plain text", () => {
    expect(terminalSafe("\u001b[31mred\u001b[0m")).toBe("\\e[31mred\\e[0m");
    expect(terminalSafe("\u001b]0;owned\u0007title")).toBe("\\e]0;owned\\x07title");
  });

  test("other C0 controls, DEL and C1 controls (the one-byte CSI U+009B) become \\xNN", () => {
    expect(terminalSafe("a\u0000b\u0008c\u007fd\u009b31me\u0085")).toBe("a\\x00b\\x08c\\x7fd\\x9b31me\\x85");
  });

  test("newlines, returns and tabs are escaped unless the text may span lines", () => {
    expect(terminalSafe("a\nb\rc\td")).toBe("a\\nb\\rc\\td");
    expect(terminalSafe("a\nb\r\tc", { keepNewlines: true })).toBe("a\nb\\r\tc");
  });

  test("bidirectional overrides are shown, not obeyed", () => {
    expect(terminalSafe("abc\u202edcba\u2066")).toBe("abc\\u202edcba\\u2066");
  });

  test("ordinary text, including non-ASCII letters and emoji, is unchanged", () => {
    const s = "projet-été 日本 🦪 — ok {x} \\e";
    expect(terminalSafe(s)).toBe(s);
  });
});

test("table cells are made safe and the columns still line up", () => {
  const out = formatTable(
    ["A", "B"],
    [
      ["\u001b[2Jx", "1"],
      ["yy", "2"],
    ],
  );
  expect(out).toBe("A       B\n\\e[2Jx  1\nyy      2");
});
