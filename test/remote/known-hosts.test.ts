import { describe, expect, test } from "bun:test";
import { createHmac, randomBytes } from "node:crypto";
import {
  checkHostKey,
  entryMatches,
  hostPattern,
  keyTypeOf,
  knownHostsLine,
  knownKeyTypes,
  parseKnownHosts,
} from "../../src/remote/ssh/known-hosts.ts";

/** A fake SSH wire-format key blob: string type + random body. */
function blob(type: string): Buffer {
  const t = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  return Buffer.concat([len, t, randomBytes(32)]);
}

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
}

const ed = blob("ssh-ed25519");
const ed2 = blob("ssh-ed25519");
const rsa = blob("ssh-rsa");

describe("known_hosts parsing", () => {
  test("plain, comments, markers, comma lists", () => {
    const text = [
      "# comment",
      "",
      `host1,10.0.0.1 ssh-ed25519 ${ed.toString("base64")} user@x`,
      `@cert-authority *.example ssh-rsa ${rsa.toString("base64")}`,
      `@revoked bad ssh-ed25519 ${ed2.toString("base64")}`,
      "garbage",
    ].join("\n");
    const e = parseKnownHosts(text);
    expect(e.map((x) => [x.marker, x.hosts, x.keyType, x.line])).toEqual([
      ["", "host1,10.0.0.1", "ssh-ed25519", 3],
      ["cert-authority", "*.example", "ssh-rsa", 4],
      ["revoked", "bad", "ssh-ed25519", 5],
    ]);
    expect(e[0]!.key.equals(ed)).toBe(true);
  });
  test("host patterns: [host]:port for non-22, globs, negation, case", () => {
    expect(hostPattern("h", 22)).toBe("h");
    expect(hostPattern("h", 2222)).toBe("[h]:2222");
    expect(entryMatches("a,10.0.0.1", "10.0.0.1", 22)).toBe(true);
    expect(entryMatches("10.0.0.1", "10.0.0.1", 2222)).toBe(false);
    expect(entryMatches("[10.0.0.1]:2222", "10.0.0.1", 2222)).toBe(true);
    expect(entryMatches("*.example.com", "Node.EXAMPLE.com", 22)).toBe(true);
    expect(entryMatches("*.example.com,!bad.example.com", "bad.example.com", 22)).toBe(false);
    expect(entryMatches("h?st", "host", 22)).toBe(true);
    expect(entryMatches("a.b", "axb", 22)).toBe(false);
  });
  test("hashed entries", () => {
    expect(entryMatches(hashed("[127.0.0.2]:2222"), "127.0.0.2", 2222)).toBe(true);
    expect(entryMatches(hashed("127.0.0.2"), "127.0.0.2", 2222)).toBe(false);
    expect(entryMatches(hashed("127.0.0.2"), "127.0.0.2", 22)).toBe(true);
    expect(entryMatches("|1|broken", "x", 22)).toBe(false);
  });
  test("keyTypeOf reads the blob's type", () => {
    expect(keyTypeOf(ed)).toBe("ssh-ed25519");
    expect(keyTypeOf(Buffer.alloc(2))).toBe("");
  });
});

describe("checkHostKey", () => {
  const file = parseKnownHosts(
    [
      `${hashed("[n1]:2200")} ssh-ed25519 ${ed.toString("base64")}`,
      `n2 ssh-rsa ${rsa.toString("base64")}`,
      `@revoked * ssh-ed25519 ${ed2.toString("base64")}`,
    ].join("\n"),
  );
  test("known key", () => expect(checkHostKey(file, "n1", 2200, ed)).toEqual({ kind: "known" }));
  test("unknown host", () =>
    expect(checkHostKey(file, "n9", 22, blob("ssh-ed25519"))).toEqual({ kind: "unknown", knownTypes: [] }));
  test("changed key of the same type", () =>
    expect(checkHostKey(file, "n1", 2200, blob("ssh-ed25519"))).toEqual({
      kind: "changed",
      line: 1,
      recordedType: "ssh-ed25519",
    }));
  test("other port is another host", () => expect(checkHostKey(file, "n1", 22, ed).kind).toBe("unknown"));
  test("a key of another type than the one on record is a changed key, not a new one", () =>
    expect(checkHostKey(file, "n2", 22, ed)).toEqual({ kind: "changed", line: 2, recordedType: "ssh-rsa" }));
  test("revoked wins", () =>
    expect(checkHostKey(file, "n1", 2200, ed2)).toEqual({ kind: "revoked", line: 3 }));
  test("knownKeyTypes and the accept-new line", () => {
    expect(knownKeyTypes(file, "n1", 2200)).toEqual(["ssh-ed25519"]);
    const line = knownHostsLine("n3", 2201, ed);
    expect(line).toBe(`[n3]:2201 ssh-ed25519 ${ed.toString("base64")}`);
    expect(checkHostKey(parseKnownHosts(line), "n3", 2201, ed)).toEqual({ kind: "known" });
  });
});
