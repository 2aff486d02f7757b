import { createHmac } from "node:crypto";

/**
 * OpenSSH known_hosts parsing and lookup, pure (no I/O) so it is unit-tested.
 * Handles plain and hashed (`|1|salt|hash`) host patterns, `[host]:port` for non-22 ports,
 * comma-separated host lists, negated patterns, `@revoked` and (skipped) `@cert-authority` markers.
 */
export interface KnownHostEntry {
  marker: "" | "revoked" | "cert-authority";
  /** The host field as written (patterns or a hashed entry). */
  hosts: string;
  keyType: string;
  /** The key blob (SSH wire format), base64-decoded. */
  key: Buffer;
  line: number;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (!raw || raw.startsWith("#")) continue;
    const fields = raw.split(/\s+/);
    let marker: KnownHostEntry["marker"] = "";
    if (fields[0]!.startsWith("@")) {
      const m = fields.shift()!;
      if (m === "@revoked") marker = "revoked";
      else if (m === "@cert-authority") marker = "cert-authority";
      else continue;
    }
    if (fields.length < 3) continue;
    const [hosts, keyType, b64] = fields as [string, string, string];
    const key = Buffer.from(b64, "base64");
    if (key.length === 0) continue;
    out.push({ marker, hosts, keyType, key, line: i + 1 });
  }
  return out;
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. */
export function hostPattern(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split("")
      .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
      .join("")}$`,
    "i",
  );
  return re.test(name);
}

/** Does the entry's host field name `host:port`? */
export function entryMatches(hosts: string, host: string, port: number): boolean {
  const name = hostPattern(host, port);
  if (hosts.startsWith("|1|")) {
    const [, , salt, hash] = hosts.split("|");
    if (!salt || !hash) return false;
    const h = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return h === hash;
  }
  let matched = false;
  for (const pat of hosts.split(",")) {
    if (pat.startsWith("!")) {
      if (globMatch(pat.slice(1), name)) return false;
    } else if (globMatch(pat, name)) matched = true;
  }
  return matched;
}

/** The key type named inside an SSH wire-format key blob (`ssh-ed25519`, `ssh-rsa`, ...). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return "";
  const len = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + len).toString("latin1");
}

export type HostKeyVerdict =
  | { kind: "known" }
  | { kind: "unknown"; knownTypes: string[] }
  /** `line` is the recorded key it differs from (of the same type, else the first on record). */
  | { kind: "changed"; line: number; recordedType: string }
  | { kind: "revoked"; line: number };

/** Decide what a presented host key means against the known_hosts entries. */
export function checkHostKey(
  entries: KnownHostEntry[],
  host: string,
  port: number,
  key: Buffer,
): HostKeyVerdict {
  const type = keyTypeOf(key);
  const mine = entries.filter((e) => e.marker !== "cert-authority" && entryMatches(e.hosts, host, port));
  const revoked = entries.find((e) => e.marker === "revoked" && e.key.equals(key));
  if (revoked) return { kind: "revoked", line: revoked.line };
  const plain = mine.filter((e) => e.marker === "");
  if (plain.some((e) => e.key.equals(key))) return { kind: "known" };
  const sameType = plain.find((e) => keyTypeOf(e.key) === type);
  if (sameType) return { kind: "changed", line: sameType.line, recordedType: type };
  // A host with a key on record that now presents another type is a changed host, not a new
  // one: accepting it would let an interceptor pick a type the victim never recorded.
  const other = plain[0];
  if (other)
    return { kind: "changed", line: other.line, recordedType: keyTypeOf(other.key) || other.keyType };
  return { kind: "unknown", knownTypes: [] };
}

/** The line `accept-new` appends for a newly seen key. */
export function knownHostsLine(host: string, port: number, key: Buffer): string {
  return `${hostPattern(host, port)} ${keyTypeOf(key)} ${key.toString("base64")}`;
}

/** Key types known for a host, so the client can prefer them during key exchange (as OpenSSH does). */
export function knownKeyTypes(entries: KnownHostEntry[], host: string, port: number): string[] {
  return [
    ...new Set(
      entries
        .filter((e) => e.marker === "" && entryMatches(e.hosts, host, port))
        .map((e) => keyTypeOf(e.key) || e.keyType),
    ),
  ];
}
