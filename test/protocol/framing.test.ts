import { describe, expect, test } from "bun:test";
import { PassThrough } from "node:stream";
import { runAgent } from "../../src/node/agent.ts";
import { jsonLine, LineFramer } from "../../src/protocol/framing.ts";
import { tempDir, waitFor } from "../helpers/cli.ts";

const lines = (frames: ReturnType<LineFramer["push"]>) =>
  frames.map((f) => (f.kind === "line" ? f.text : `<overflow ${f.bytes}>`));

describe("LineFramer", () => {
  test("splits on \\n only, keeping U+2028, U+2029 and \\r inside a line", () => {
    const f = new LineFramer();
    expect(lines(f.push("a\u2028b\u2029c\rd\ne"))).toEqual(["a\u2028b\u2029c\rd"]);
    expect(lines(f.push("f\n\n"))).toEqual(["ef", ""]);
  });

  test("a multi-byte character split across chunks comes out whole", () => {
    const f = new LineFramer();
    const bytes = Buffer.from("é€\u2028\n", "utf8");
    const out = [
      ...f.push(bytes.subarray(0, 1)),
      ...f.push(bytes.subarray(1, 4)),
      ...f.push(bytes.subarray(4)),
    ];
    expect(lines(out)).toEqual(["é€\u2028"]);
  });

  test("a line past the limit is reported once, dropped to its newline, and the next line is intact", () => {
    const f = new LineFramer(10);
    expect(lines(f.push("0123456789"))).toEqual([]);
    expect(f.overflowing).toBe(false);
    expect(lines(f.push("ab"))).toEqual([]);
    expect(f.overflowing).toBe(true);
    expect(lines(f.push("x".repeat(1000)))).toEqual([]);
    expect(f.pending).toBe(1012);
    expect(lines(f.push("yz\nok\n"))).toEqual(["<overflow 1014>", "ok"]);
    expect(f.overflowing).toBe(false);
  });

  test("holds at most the limit however the flood is chunked, and scans each byte once", () => {
    const f = new LineFramer(4 * 1024 * 1024);
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const t0 = performance.now();
    for (let i = 0; i < 1600; i++) f.push(chunk); // 100 MiB without a newline
    const ms = performance.now() - t0;
    expect(f.overflowing).toBe(true);
    // A rescan per chunk (the old framing) is quadratic: minutes for 100 MiB.
    expect(ms).toBeLessThan(5_000);
    expect(lines(f.push("\n{}\n"))).toEqual([`<overflow ${100 * 1024 * 1024}>`, "{}"]);
  });

  test("jsonLine escapes U+2028/U+2029 and parses back to the same value", () => {
    const v = { spec: "a\u2028b\u2029c" };
    const l = jsonLine(v);
    expect(l).toBe('{"spec":"a\\u2028b\\u2029c"}\n');
    expect(JSON.parse(l)).toEqual(v);
  });
});

describe("the agent survives any input line", () => {
  test("null, garbage, a non-request, an over-long line and U+2028 each get a reply, and it keeps serving", async () => {
    const home = tempDir("oyster-agent-lines-");
    const input = new PassThrough();
    const out: Record<string, unknown>[] = [];
    const done = runAgent({
      home: home.path,
      input,
      write: (l) => {
        expect(l.endsWith("\n")).toBe(true);
        expect(l.slice(0, -1)).not.toContain("\n");
        out.push(JSON.parse(l));
      },
      pollMs: 20,
      maxLineBytes: 1024,
    });
    const errors = () => out.filter((m) => m.ok === false);
    input.write("null\n");
    input.write("garbage\n");
    input.write('{"id":7}\n');
    input.write("[1,2]\n");
    input.write("x".repeat(5000));
    input.write(`${"y".repeat(5000)}\n`);
    input.write('{"id":8,"op":"unknown\u2028op"}\n');
    input.write('{"id":9,"op":"ping"}\n');
    await waitFor("ping answered", () => out.find((m) => m.id === 9));
    expect(out.find((m) => m.id === 9)).toEqual({ id: 9, ok: true, result: "pong" });
    expect(errors().map((m) => [m.id, String(m.error).slice(0, 16)])).toEqual([
      [null, "not a request (("],
      [null, "not JSON: garbag"],
      [7, "not a request (o"],
      [null, "not a request (("],
      [null, "request line lon"],
      [8, 'unknown op "unkn'],
    ]);
    expect(String(errors()[5]!.error)).toContain("\u2028");
    input.end();
    await done;
    home.cleanup();
  });
});
