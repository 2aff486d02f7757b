import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { oyster, tempDir } from "../helpers/cli.ts";
import { type SshNode, startSshNode } from "../helpers/sshd.ts";

/**
 * SSH as strict as OpenSSH, on the built binary against a real sshd (127.0.0.10): a private key
 * others can read is refused with OpenSSH's advice, and `host_key: accept-new` records a key only
 * for a host with none on record. `oyster nodes install` is the command that connects here.
 */
const dir = tempDir("oyster-e2e-ssh-strict-");
let node: SshNode;

function configure(overrides: Record<string, unknown>): void {
  const cfg = ["store: ./o.db", "ssh: { connect_timeout: 3s, command_timeout: 10s }", "nodes:"];
  cfg.push(`  - ${JSON.stringify(node.nodeConfig(overrides))}`);
  writeFileSync(join(dir.path, "oyster.yaml"), `${cfg.join("\n")}\n`);
}

beforeAll(async () => {
  node = await startSshNode({ address: "127.0.0.10", name: "strict1" });
});

afterAll(async () => {
  await node.destroy();
  dir.cleanup();
});

describe("ssh strictness", () => {
  test("a private key readable by group and others is refused with OpenSSH's chmod 600 advice", () => {
    const key = join(dir.path, "open_key");
    copyFileSync(node.keyPath, key);
    chmodSync(key, 0o644);
    configure({ key });
    const r = oyster(["nodes", "install", node.name], { cwd: dir.path });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`node "${node.name}"`);
    expect(r.stderr).toContain(`Permissions 0644 for '${key}' are too open`);
    expect(r.stderr).toContain(`chmod 600 '${key}'`);
    chmodSync(key, 0o600);
    const ok = oyster(["nodes", "install", node.name], { cwd: dir.path });
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
  });

  test("accept-new refuses a known host that offers another key type, like REMOTE HOST IDENTIFICATION HAS CHANGED", () => {
    // The node's real key is ed25519; on record is an ecdsa key for the same [host]:port.
    const other = join(dir.path, "other_host_key");
    const kg = Bun.spawnSync(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", other]);
    expect(kg.exitCode).toBe(0);
    const [type, b64] = readFileSync(`${other}.pub`, "utf8").trim().split(/\s+/);
    const kh = join(dir.path, "known_hosts_other_type");
    const line = `[${node.host}]:${node.port} ${type} ${b64}\n`;
    writeFileSync(kh, line);
    for (const mode of ["accept-new", "strict"]) {
      configure({ known_hosts: kh, host_key: mode });
      const r = oyster(["nodes", "install", node.name], { cwd: dir.path });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("REMOTE HOST IDENTIFICATION HAS CHANGED");
      expect(r.stderr).toContain(
        `It presented a ssh-ed25519 key, but the key on record in ${kh} line 1 is ${type}`,
      );
      // Nothing was added: the ecdsa key is still the only one on record.
      expect(readFileSync(kh, "utf8")).toBe(line);
    }
  });

  test("accept-new still records the key of a host with none on record", () => {
    const kh = join(dir.path, "known_hosts_empty");
    writeFileSync(kh, "");
    configure({ known_hosts: kh, host_key: "accept-new" });
    const r = oyster(["nodes", "install", node.name], { cwd: dir.path });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readFileSync(kh, "utf8").trim().split(/\s+/).slice(0, 2).join(" ")).toBe(
      node.hostKeyLine.split(/\s+/).slice(0, 2).join(" "),
    );
  });
});
