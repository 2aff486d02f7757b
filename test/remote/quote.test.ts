import { describe, expect, test } from "bun:test";
import { quote, quotePath, shellJoin } from "../../src/remote/quote.ts";

/** Run a quoted line through a real sh and get back the argv it saw. */
function roundTrip(line: string, env: Record<string, string> = {}): string[] {
  const r = Bun.spawnSync(["sh", "-c", `for a in ${line}; do printf '%s\\0' "$a"; done`], {
    env: { PATH: process.env.PATH ?? "", HOME: "/home/someone", ...env },
  });
  const out = r.stdout.toString();
  return out ? out.split("\0").slice(0, -1) : [];
}

const hostile = [
  "$(touch /tmp/pwned-quote)",
  "`touch /tmp/pwned-quote`",
  "; rm -rf ~",
  "a'b",
  "'",
  "''",
  '"double"',
  "new\nline",
  "tab\there",
  "*",
  "~",
  "$HOME",
  "\\",
  "--flag=$(id)",
  "",
  "ünïcödé ☃",
  "a & b | c > d < e",
  "!history",
];

describe("quote", () => {
  test("plain words stay readable", () => {
    expect(quote("oyster")).toBe("oyster");
    expect(quote("/usr/bin/x")).toBe("/usr/bin/x");
    expect(quote("--home=/a/b")).toBe("--home=/a/b");
  });
  test("empty string is ''", () => expect(quote("")).toBe("''"));
  test("single quotes are closed, escaped, reopened", () => expect(quote("a'b")).toBe("'a'\\''b'"));
  test.each(hostile)("%p survives sh unchanged", (s) => {
    expect(roundTrip(quote(s))).toEqual([s]);
  });
  test("a whole hostile argv round-trips and executes nothing", () => {
    expect(roundTrip(hostile.map(quote).join(" "))).toEqual(hostile);
    const noTilde = hostile.filter((h) => h !== "~");
    expect(roundTrip(shellJoin(noTilde))).toEqual(noTilde);
    expect(require("node:fs").existsSync("/tmp/pwned-quote")).toBe(false);
  });
});

describe("quotePath", () => {
  test("~/ expands on the remote, the rest is literal", () => {
    expect(quotePath("~/.oyster/bin/oyster")).toBe(`"$HOME"/.oyster/bin/oyster`);
    expect(roundTrip(quotePath("~/.oyster/bin/oyster"))).toEqual(["/home/someone/.oyster/bin/oyster"]);
    expect(roundTrip(quotePath("~/a b/$(x)"))).toEqual(["/home/someone/a b/$(x)"]);
    expect(roundTrip(quotePath("~"))).toEqual(["/home/someone"]);
  });
  test("a ~ elsewhere is literal", () => {
    expect(roundTrip(shellJoin(["a~/b", "~user/x"]))).toEqual(["a~/b", "~user/x"]);
  });
  test("shellJoin expands ~/ args only", () => {
    expect(roundTrip(shellJoin(["~/bin/oyster", "exec", "--home", "~/.oyster"]))).toEqual([
      "/home/someone/bin/oyster",
      "exec",
      "--home",
      "/home/someone/.oyster",
    ]);
  });
});
