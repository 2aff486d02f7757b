import { describe, expect, test } from "bun:test";
import { SafeTextDecoder } from "../../src/output/safe-bytes.ts";

const show = (...chunks: (string | number[])[]) => {
  const d = new SafeTextDecoder();
  const parts = chunks.map((c) =>
    d.push(typeof c === "string" ? Buffer.from(c, "latin1") : Uint8Array.from(c)),
  );
  return parts.join("") + d.end();
};

describe("SafeTextDecoder", () => {
  test("valid UTF-8 passes, newlines and tabs stay", () => {
    expect(show(Buffer.from("café\tok\nnext ✓\n").toString("latin1"))).toBe("café\tok\nnext ✓\n");
  });

  test("escape and control characters are made inert", () => {
    expect(show("\x1b[31mred\x1b[0m\r\x07\n")).toBe("\\e[31mred\\e[0m\\r\\x07\n");
  });

  test("bytes that are not UTF-8 become \\xNN", () => {
    expect(show([0x61, 0xff, 0xfe, 0x62, 0xc0, 0xaf, 0xed, 0xa0, 0x80])).toBe(
      "a\\xff\\xfeb\\xc0\\xaf\\xed\\xa0\\x80",
    );
  });

  test("a sequence split across chunks is joined, never shown as two bad bytes", () => {
    const e = [...Buffer.from("é✓😀")];
    for (let cut = 1; cut < e.length; cut++) expect(show(e.slice(0, cut), e.slice(cut))).toBe("é✓😀");
  });

  test("an unfinished sequence at the very end is shown as bytes", () => {
    expect(show([0x61, 0xe2, 0x9c])).toBe("a\\xe2\\x9c");
  });

  test("bidi overrides are shown as code points", () => {
    expect(show(Buffer.from("a\u202eb").toString("latin1"))).toBe("a\\u202eb");
  });
});
