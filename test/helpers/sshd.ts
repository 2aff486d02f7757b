import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { type Subprocess, spawn, spawnSync } from "bun";
import { allStats } from "../../src/os/proc.ts";
import { OYSTER_BIN, tempDir } from "./cli.ts";
import { alive } from "./procs.ts";

/**
 * Real OpenSSH sshd "nodes" for tests: one sshd per node on its own loopback address and a
 * random free port, throw-away host and client keys, and a separate OYSTER_HOME and oyster
 * binary per node. Runs as root (tests run as root), logging in as the current user.
 */
export interface SshNode {
  name: string;
  host: string;
  port: number;
  /** known_hosts file containing this node's host key. */
  known_hosts: string;
  /** Client private key accepted by this node. */
  keyPath: string;
  /** The node's OYSTER_HOME (runs/ lives here). */
  home: string;
  /** The node's oyster binary (installBinary replaces it). */
  binPath: string;
  /** Temp dir holding everything above. */
  dir: string;
  /** This node's host key as a known_hosts line. */
  hostKeyLine: string;
  /** sshd's pid while running, else null. */
  pid(): number | null;
  /** A node entry for oyster.yaml / NodeConfig; overrides win. */
  nodeConfig(overrides?: Record<string, unknown>): Record<string, unknown>;
  /** Kill sshd and every session under it (runs, being detached, keep going). */
  stop(): Promise<void>;
  /** Start sshd again with the same host key and port (the node "comes back"). */
  start(): Promise<void>;
  installBinary(src: string): void;
  /** Kill every run process recorded under home (wrappers and executor groups). */
  killRuns(): void;
  /** stop() + killRuns() + remove the temp dir. */
  destroy(): Promise<void>;
}

export interface SshNodeOptions {
  address?: string;
  name?: string;
  /** Binary installed at binPath (default: the built oyster under test). */
  binary?: string;
  /** Extra environment for every session (sshd SetEnv), e.g. OYSTER_HEARTBEAT_MS. */
  env?: Record<string, string>;
}

const live = new Set<number>();
process.on("exit", () => {
  for (const pid of live) killTree(pid);
});

function children(): Map<number, number[]> {
  const kids = new Map<number, number[]>();
  for (const { pid, ppid } of allStats()) {
    const list = kids.get(ppid) ?? [];
    list.push(pid);
    kids.set(ppid, list);
  }
  return kids;
}

function descendants(pid: number, skip: Set<number> = new Set()): number[] {
  const kids = children();
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    for (const c of kids.get(p) ?? []) {
      if (skip.has(c)) continue;
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

function killTree(pid: number, skip?: Set<number>): void {
  const all = [pid, ...descendants(pid, skip)];
  for (const p of all) {
    try {
      process.kill(p, "SIGKILL");
    } catch {}
  }
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

let counter = 0;

export async function startSshNode(opts: SshNodeOptions = {}): Promise<SshNode> {
  const host = opts.address ?? "127.0.0.2";
  const name = opts.name ?? `node${++counter}`;
  const tmp = tempDir(`oyster-sshd-${name}-`);
  const dir = tmp.path;
  mkdirSync("/run/sshd", { recursive: true });
  const keygen = (file: string) => {
    const r = spawnSync([
      "ssh-keygen",
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      `oyster-test-${name}`,
      "-f",
      file,
    ]);
    if (r.exitCode !== 0) throw new Error(`ssh-keygen failed: ${r.stderr.toString()}`);
  };
  const hostKey = join(dir, "host_ed25519");
  const keyPath = join(dir, "client_ed25519");
  keygen(hostKey);
  keygen(keyPath);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(`${keyPath}.pub`));
  const home = join(dir, "home");
  mkdirSync(home, { recursive: true });
  const binPath = join(dir, "bin", "oyster");
  mkdirSync(join(dir, "bin"), { recursive: true });
  const installBinary = (src: string) => {
    const tmpBin = `${binPath}.tmp`;
    copyFileSync(src, tmpBin);
    chmodSync(tmpBin, 0o755);
    // rename so a running agent keeps its old inode (ETXTBSY otherwise)
    spawnSync(["mv", "-f", tmpBin, binPath]);
  };
  installBinary(opts.binary ?? OYSTER_BIN);

  const [ktype, kb64] = readFileSync(`${hostKey}.pub`, "utf8").trim().split(/\s+/);
  let port = 0;
  let proc: Subprocess | null = null;
  const known_hosts = join(dir, "known_hosts");
  const cfgPath = join(dir, "sshd_config");

  const writeConfig = () => {
    // sshd keeps only the first SetEnv line, so every variable goes on one line.
    const setEnv = `SetEnv ${Object.entries({ OYSTER_HOME: home, OYSTER_TEST_NODE: dir, ...(opts.env ?? {}) })
      .map(([k, v]) => `"${k}=${v.replace(/["\\]/g, "\\$&")}"`)
      .join(" ")}`;
    writeFileSync(
      cfgPath,
      `ListenAddress ${host}:${port}
HostKey ${hostKey}
AuthorizedKeysFile ${join(dir, "authorized_keys")}
PermitRootLogin yes
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PidFile ${join(dir, "sshd.pid")}
Subsystem sftp /usr/lib/openssh/sftp-server
MaxStartups 200
MaxSessions 64
PrintMotd no
LogLevel ERROR
${setEnv}
`,
    );
  };

  const launch = async (): Promise<boolean> => {
    writeConfig();
    const p = spawn(["/usr/sbin/sshd", "-D", "-e", "-f", cfgPath], { stdout: "ignore", stderr: "pipe" });
    live.add(p.pid);
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline) {
      if (p.exitCode !== null || p.signalCode !== null) {
        live.delete(p.pid);
        return false;
      }
      if (await portOpen(host, port)) {
        proc = p;
        return true;
      }
      await Bun.sleep(20);
    }
    killTree(p.pid);
    live.delete(p.pid);
    const err = await new Response(p.stderr as ReadableStream).text().catch(() => "");
    throw new Error(`sshd on ${host}:${port} did not start: ${err}`);
  };

  for (let attempt = 0; ; attempt++) {
    port = 20_000 + Math.floor(Math.random() * 40_000);
    if (await portOpen(host, port)) continue;
    if (await launch()) break;
    if (attempt > 20) throw new Error(`could not start sshd on ${host}: no free port after ${attempt} tries`);
  }
  const hostKeyLine = `[${host}]:${port} ${ktype} ${kb64}`;
  writeFileSync(known_hosts, `${hostKeyLine}\n`);

  const runPids = (): Set<number> => {
    const pids = new Set<number>();
    const runs = join(home, "runs");
    if (!existsSync(runs)) return pids;
    for (const r of readdirSync(runs)) {
      try {
        const s = JSON.parse(readFileSync(join(runs, r, "status.json"), "utf8")) as {
          pid: number | null;
          wrapper_pid: number | null;
        };
        for (const p of [s.pid, s.wrapper_pid]) if (p) pids.add(p);
      } catch {}
    }
    return pids;
  };

  const stop = async () => {
    const p = proc;
    if (!p) return;
    proc = null;
    // Sessions die with sshd; detached runs (and their process groups) are left alone.
    killTree(p.pid, runPids());
    await p.exited;
    live.delete(p.pid);
    const deadline = Date.now() + 5_000;
    while ((await portOpen(host, port)) && Date.now() < deadline) await Bun.sleep(20);
  };

  /** Every process started through this node's sshd carries OYSTER_TEST_NODE=<dir> (SetEnv). */
  const marked = (): number[] => {
    const needle = `OYSTER_TEST_NODE=${dir}\0`;
    const out: number[] = [];
    for (const d of readdirSync("/proc")) {
      if (!/^\d+$/.test(d)) continue;
      try {
        if (readFileSync(`/proc/${d}/environ`, "utf8").includes(needle)) out.push(Number(d));
      } catch {}
    }
    return out;
  };

  const killRuns = () => {
    for (const pid of runPids()) {
      if (!(pid > 1)) continue;
      try {
        process.kill(-pid, "SIGKILL");
      } catch {}
      killTree(pid);
    }
    // Orphans of closed sessions (a command that outlived its channel) and anything they started.
    for (const pid of marked()) killTree(pid);
  };

  const node: SshNode = {
    name,
    host,
    get port() {
      return port;
    },
    known_hosts,
    keyPath,
    home,
    binPath,
    dir,
    hostKeyLine,
    pid: () => (proc ? (proc as Subprocess).pid : null),
    nodeConfig: (overrides = {}) => ({
      name,
      transport: "ssh",
      host,
      port,
      user: process.env.USER || "root",
      key: keyPath,
      known_hosts,
      host_key: "strict",
      slots: 2,
      oyster_home: home,
      oyster_bin: binPath,
      ...overrides,
    }),
    stop,
    start: async () => {
      if (proc) return;
      if (!(await launch())) throw new Error(`sshd could not restart on ${host}:${port} (port taken?)`);
    },
    installBinary,
    killRuns,
    destroy: async () => {
      await stop();
      killRuns();
      for (const pid of runPids()) if (alive(pid)) killTree(pid);
      tmp.cleanup();
    },
  };
  return node;
}
