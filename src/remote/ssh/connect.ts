import { appendFileSync, existsSync, mkdirSync, readFileSync, type Stats, statSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname } from "node:path";
import { Client, type ConnectConfig } from "ssh2";
// A static import, so `bun build --compile` bundles it (a runtime require finds no node_modules).
// @ts-expect-error ssh2 ships no types for its internal constants module
import * as ssh2Constants from "ssh2/lib/protocol/constants.js";
import type { NodeConfig } from "../../config/schema.ts";
import { expandHome } from "../../os/paths.ts";
import { TransportError } from "../transport.ts";
import {
  checkHostKey,
  type HostKeyVerdict,
  knownHostsLine,
  knownKeyTypes,
  parseKnownHosts,
} from "./known-hosts.ts";

/**
 * Open one authenticated ssh2 connection to a node, with the host key checked against the node's
 * known_hosts file the way OpenSSH does (`strict` refuses unknown keys, `accept-new` records
 * them; a CHANGED key is always refused). Shared by the transports and the remote supervisor.
 */
export interface ConnectOptions {
  /** Handshake + auth deadline (ssh2 readyTimeout). */
  connectTimeoutMs: number;
  /** SSH-level keepalive interval; 0 disables. */
  keepaliveMs: number;
}

export type SshNode = Pick<
  NodeConfig,
  "name" | "host" | "port" | "user" | "key" | "known_hosts" | "host_key"
>;

const { DEFAULT_SERVER_HOST_KEY } = ssh2Constants as unknown as { DEFAULT_SERVER_HOST_KEY: string[] };

/** Host key algorithms to offer: those already known for this host first, as OpenSSH does. */
function hostKeyAlgorithms(known: string[]): string[] {
  const wanted = new Set<string>();
  for (const t of known) {
    if (t === "ssh-rsa") for (const a of ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]) wanted.add(a);
    else wanted.add(t);
  }
  const first = DEFAULT_SERVER_HOST_KEY.filter((a) => wanted.has(a));
  return [...first, ...DEFAULT_SERVER_HOST_KEY.filter((a) => !wanted.has(a))];
}

function hostKeyMessage(node: SshNode, file: string, v: HostKeyVerdict, keyType: string): string {
  const host = node.host ?? "";
  const where = node.port === 22 ? host : `[${host}]:${node.port}`;
  switch (v.kind) {
    case "changed":
      return (
        `@@@ REMOTE HOST IDENTIFICATION HAS CHANGED for node "${node.name}" (${where}) @@@ ` +
        (v.recordedType === keyType
          ? `The ${keyType} key it presented differs from the one recorded in ${file} line ${v.line}. `
          : `It presented a ${keyType} key, but the key on record in ${file} line ${v.line} is ${v.recordedType}` +
            " (a host with a key on record is not a new host, even with `host_key: accept-new`). ") +
        "Someone could be intercepting the connection, or the host was reinstalled. " +
        `Refusing to connect. If the change is expected, remove the old entry (ssh-keygen -R '${where}' -f ${file}) ` +
        "and add the new key after verifying it."
      );
    case "revoked":
      return `node "${node.name}" (${where}) presented a host key marked @revoked in ${file} line ${v.line}; refusing to connect`;
    default:
      return (
        `unknown host key for node "${node.name}" (${where}): its ${keyType} key is not in ${file}. ` +
        `Verify and add it (ssh-keyscan -p ${node.port} ${host} >> ${file}), ` +
        "or set `host_key: accept-new` on the node to record it on first connect."
      );
  }
}

/**
 * OpenSSH's rule for private keys (sshkey_perm_ok): a key file owned by this user must not be
 * readable or writable by group or others. Returns OpenSSH's advice, or null when the mode is fine.
 */
export function keyPermissionProblem(
  keyPath: string,
  st: Pick<Stats, "mode" | "uid">,
  uid: number = process.getuid?.() ?? -1,
): string | null {
  if (st.uid !== uid || (st.mode & 0o077) === 0) return null;
  const mode = (st.mode & 0o777).toString(8).padStart(4, "0");
  return (
    `UNPROTECTED PRIVATE KEY FILE! Permissions ${mode} for '${keyPath}' are too open. ` +
    "It is required that your private key files are NOT accessible by others. " +
    `This private key will be ignored: run chmod 600 '${keyPath}'`
  );
}

/** Connect and authenticate; resolves with a ready ssh2 Client or rejects with a TransportError. */
export function connectSsh(node: SshNode, opts: ConnectOptions): Promise<Client> {
  const host = node.host;
  if (!host) return Promise.reject(new TransportError(`node "${node.name}" has no host`, "connect"));
  const port = node.port ?? 22;
  const khFile = expandHome(node.known_hosts ?? "~/.ssh/known_hosts");
  let entries: ReturnType<typeof parseKnownHosts> = [];
  try {
    if (existsSync(khFile)) entries = parseKnownHosts(readFileSync(khFile, "utf8"));
  } catch (err) {
    return Promise.reject(
      new TransportError(
        `cannot read known_hosts ${khFile} for node "${node.name}": ${String(err)}`,
        "host_key",
      ),
    );
  }

  const cfg: ConnectConfig = {
    host,
    port,
    username: node.user ?? userInfo().username,
    readyTimeout: opts.connectTimeoutMs,
    keepaliveInterval: opts.keepaliveMs,
    keepaliveCountMax: 3,
    algorithms: {
      serverHostKey: hostKeyAlgorithms(knownKeyTypes(entries, host, port)) as NonNullable<
        ConnectConfig["algorithms"]
      >["serverHostKey"],
    },
  };
  if (node.key) {
    const keyPath = expandHome(node.key);
    try {
      const tooOpen = keyPermissionProblem(keyPath, statSync(keyPath));
      if (tooOpen) return Promise.reject(new TransportError(`node "${node.name}": ${tooOpen}`, "auth"));
      cfg.privateKey = readFileSync(keyPath);
    } catch (err) {
      return Promise.reject(
        new TransportError(
          `cannot read the ssh key ${keyPath} for node "${node.name}": ${(err as Error).message}`,
          "auth",
        ),
      );
    }
  } else if (process.env.SSH_AUTH_SOCK) {
    cfg.agent = process.env.SSH_AUTH_SOCK;
  } else {
    return Promise.reject(
      new TransportError(
        `node "${node.name}" has no \`key\` and no SSH agent is available (SSH_AUTH_SOCK unset)`,
        "auth",
      ),
    );
  }

  // The verifier records why it refused, so the error names the real problem instead of ssh2's generic one.
  let refusal: string | undefined;
  cfg.hostVerifier = (key: Buffer): boolean => {
    const verdict = checkHostKey(entries, host, port, key);
    const keyType = key.length >= 4 ? key.subarray(4, 4 + key.readUInt32BE(0)).toString("latin1") : "?";
    if (verdict.kind === "known") return true;
    if (verdict.kind === "unknown" && node.host_key === "accept-new") {
      try {
        mkdirSync(dirname(khFile), { recursive: true, mode: 0o700 });
        const existing = existsSync(khFile) ? readFileSync(khFile, "utf8") : "";
        const sep = existing && !existing.endsWith("\n") ? "\n" : "";
        appendFileSync(khFile, `${sep}${knownHostsLine(host, port, key)}\n`, { mode: 0o600 });
        return true;
      } catch (err) {
        refusal = `cannot record the new host key of node "${node.name}" in ${khFile}: ${(err as Error).message}`;
        return false;
      }
    }
    refusal = hostKeyMessage(node, khFile, verdict, keyType);
    return false;
  };

  return new Promise((resolve, reject) => {
    const client = new Client();
    let settled = false;
    const fail = (err: Error & { level?: string; code?: string }) => {
      if (settled) return;
      settled = true;
      client.end();
      reject(classify(node, err, refusal));
    };
    client.once("ready", () => {
      if (settled) return;
      settled = true;
      client.removeListener("error", fail);
      // Later errors are handled by whoever owns the connection; keep one listener so none is unhandled.
      client.on("error", () => {});
      resolve(client);
    });
    client.on("error", fail);
    client.once("close", () => fail(new Error("connection closed during handshake")));
    try {
      client.connect(cfg);
    } catch (err) {
      fail(err as Error);
    }
  });
}

function classify(
  node: SshNode,
  err: Error & { level?: string; code?: string },
  refusal?: string,
): TransportError {
  const where = `node "${node.name}" (${node.host}:${node.port ?? 22})`;
  if (refusal) return new TransportError(refusal, "host_key", { cause: err });
  const msg = err.message;
  if (err.level === "client-authentication" || /authentication methods failed/i.test(msg))
    return new TransportError(
      `ssh authentication to ${where} as ${node.user ?? userInfo().username} failed: ${msg}`,
      "auth",
      {
        cause: err,
      },
    );
  if (/timed out/i.test(msg))
    return new TransportError(`ssh connect to ${where} timed out: ${msg}`, "timeout", { cause: err });
  return new TransportError(`ssh connect to ${where} failed: ${err.code ?? msg}`, "connect", { cause: err });
}
