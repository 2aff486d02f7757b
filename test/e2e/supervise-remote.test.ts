import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { oyster, tempDir, waitFor } from "../helpers/cli.ts";
import { killGroupNow } from "../helpers/procs.ts";
import { type SshNode, startSshNode } from "../helpers/sshd.ts";
import {
  BUN,
  freePort,
  groupMembers,
  killAll,
  processesMentioning,
  type RunningSupervisor,
  SERVICE_SCRIPT,
  startSupervise,
} from "../supervisor/helpers.ts";

/**
 * A remote service on a real sshd "node" (127.0.0.9; the node is this machine, so the test can
 * look at its processes directly). Health goes through the SSH connection (forwardOut).
 */
let node: SshNode;
let dir: string;
let cleanupDir: () => void;
let sup: RunningSupervisor;
let port: number;
let pidFile: string;
let sick: string;

interface Row {
  name: string;
  pid: number | null;
  health: string;
  restarts: number;
}

const status = (): Row[] => {
  const r = oyster(["supervise", "status", "--json"], { cwd: dir });
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Row[];
};

/** Instances of the service on the node: live processes running our script with our port. */
const instances = (): number[] =>
  processesMentioning(`PORT=${port}`).filter((p) => {
    try {
      // argv[0] is bun itself (the launching `setsid -w` parent mentions the same words).
      const argv = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
      return argv[0] === BUN && argv[1] === SERVICE_SCRIPT;
    } catch {
      return false;
    }
  });

function ppidOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
}

function killSshdOnly(root: number): void {
  const victims = [root];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readFileSync(`/proc/${d}/comm`, "utf8").startsWith("sshd")) continue;
      for (let p = Number(d); p > 1; p = ppidOf(p))
        if (p === root) {
          victims.push(Number(d));
          break;
        }
    } catch {}
  }
  for (const v of victims) {
    try {
      process.kill(v, "SIGKILL");
    } catch {}
  }
}

const remotePgid = (): number => Number(readFileSync(pidFile, "utf8").trim());

beforeAll(async () => {
  node = await startSshNode({ address: "127.0.0.9", name: "sup1" });
  const t = tempDir("oyster-suprem-");
  dir = t.path;
  cleanupDir = t.cleanup;
  port = freePort();
  sick = join(dir, "sick");
  pidFile = join(node.home, "supervise", "web.pid");
  const nodeCfg = JSON.stringify(node.nodeConfig());
  sup = startSupervise(
    dir,
    `nodes:
  - ${nodeCfg}
ssh: { connect_timeout: 3s, keepalive: 1s }
services:
  - name: web
    host: sup1
    command: [${JSON.stringify(BUN)}, ${JSON.stringify(SERVICE_SCRIPT)}]
    env: { PORT: "${port}", SICK_FILE: ${JSON.stringify(sick)} }
    health: { port: ${port}, interval: 500ms, grace: 3s }
    backoff: { initial: 300ms, max: 2s, reset_after: 2s }
    stop_timeout: 2s
`,
  );
});

afterAll(async () => {
  sup?.proc.kill("SIGKILL");
  await sup?.proc.exited;
  if (existsSync(pidFile)) killAll([remotePgid()]);
  killAll(instances());
  await node?.destroy();
  killAll(processesMentioning(dir));
  cleanupDir?.();
});

describe("remote services over SSH", () => {
  test("the service runs on the node in its own process group and is healthy through the tunnel", async () => {
    const row = await waitFor("web healthy", () => status().find((r) => r.health === "healthy"), {
      timeoutMs: 15_000,
    });
    expect(row.pid).toBe(remotePgid());
    expect(instances().length).toBe(1);
    expect(groupMembers(row.pid!).length).toBeGreaterThanOrEqual(1);
  }, 20_000);

  test("kill -9 on the node: restarted and healthy again", async () => {
    const old = remotePgid();
    expect(old).toBeGreaterThan(1);
    const t0 = Date.now();
    killGroupNow(old);
    await waitFor("new instance healthy", () => {
      const r = status()[0]!;
      return r.pid !== old && r.health === "healthy";
    });
    console.log(`remote kill -9 → healthy: ${Date.now() - t0} ms`);
    expect(instances().length).toBe(1);
  }, 15_000);

  test("health 503 on the node: restarted", async () => {
    const old = remotePgid();
    writeFileSync(sick, "");
    await waitFor("replaced", () => existsSync(pidFile) && remotePgid() !== old, { timeoutMs: 10_000 });
    rmSync(sick);
    await waitFor("healthy", () => status()[0]!.health === "healthy", { timeoutMs: 10_000 });
    expect(instances().length).toBe(1);
  }, 20_000);

  test("a dropped SSH connection never leaves two instances running", async () => {
    const old = remotePgid();
    const before = status()[0]!.restarts;
    // Drop the connection the hard way: SIGKILL sshd and its session processes only, so the
    // service itself lives on as an orphan on the node (as after a network cut).
    killSshdOnly(node.pid()!);
    await node.stop();
    expect(instances().length).toBe(1);
    // While the node's sshd is down the service counts as down and cannot be reached.
    await waitFor("counted down", () => status()[0]!.restarts > before, { timeoutMs: 10_000 });
    let max = 0;
    const watch = setInterval(() => {
      max = Math.max(max, instances().length);
    }, 20);
    try {
      await Bun.sleep(1_000);
      await node.start();
      await waitFor("healthy after reconnect", () => status()[0]!.health === "healthy", {
        timeoutMs: 15_000,
      });
    } finally {
      clearInterval(watch);
    }
    expect(max).toBeLessThanOrEqual(1);
    expect(remotePgid()).not.toBe(old);
    expect(groupMembers(old)).toEqual([]);
    expect(instances().length).toBe(1);
  }, 30_000);

  test("shutdown stops the remote instance", async () => {
    const pg = remotePgid();
    sup.proc.kill("SIGTERM");
    expect(await sup.proc.exited).toBe(0);
    await waitFor("remote group gone", () => groupMembers(pg).length === 0, { timeoutMs: 3_000 });
    expect(instances()).toEqual([]);
  }, 15_000);
});
