import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { OYSTER_BIN, oyster, tempDir, waitFor } from "../helpers/cli.ts";
import { type SshNode, startSshNode } from "../helpers/sshd.ts";
import {
  BUN,
  cleanEnv,
  freePort,
  killAll,
  processesMentioning,
  type RunningSupervisor,
  SERVICE_SCRIPT,
  startSupervise,
} from "../supervisor/helpers.ts";

/**
 * `NAME@node` as the status table prints a remote service, over a real sshd node: restart and
 * logs take it; a wrong node is refused, naming where the service runs.
 */
let node: SshNode;
let dir: string;
let cleanupDir: () => void;
let sup: RunningSupervisor;
let port: number;
let pidFile: string;

interface Row {
  name: string;
  host: string;
  pid: number | null;
  health: string;
  restarts: number;
}

const status = (): Row[] => {
  const r = oyster(["supervise", "status", "--json"], { cwd: dir });
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as Row[];
};

beforeAll(async () => {
  node = await startSshNode({ address: "127.0.0.77", name: "far" });
  const t = tempDir("oyster-supopsrem-");
  dir = t.path;
  cleanupDir = t.cleanup;
  port = freePort();
  pidFile = join(node.home, "supervise", "web.pid");
  sup = startSupervise(
    dir,
    `nodes:
  - ${JSON.stringify(node.nodeConfig())}
ssh: { connect_timeout: 3s, keepalive: 1s }
supervise: { http: { port: ${freePort()} } }
services:
  - name: web
    host: far
    command: [${JSON.stringify(BUN)}, ${JSON.stringify(SERVICE_SCRIPT)}]
    env: { PORT: "${port}" }
    health: { port: ${port}, interval: 500ms, grace: 3s }
    stop_timeout: 2s
  - name: here
    command: ["sh", "-c", "echo here-up; exec sleep 1000"]
`,
  );
});

afterAll(async () => {
  sup?.proc.kill("SIGKILL");
  await sup?.proc.exited;
  if (existsSync(pidFile)) killAll([Number(readFileSync(pidFile, "utf8").trim())]);
  killAll(processesMentioning(`PORT=${port}`));
  await node?.destroy();
  killAll(processesMentioning(dir));
  cleanupDir?.();
});

describe("NAME@node for remote services", () => {
  test("the table's web@far restarts the remote service (new process group on the node)", async () => {
    const before = await waitFor(
      "web healthy",
      () => status().find((r) => r.name === "web" && r.health === "healthy"),
      {
        timeoutMs: 15_000,
      },
    );
    expect(before.host).toBe("far");
    const table = oyster(["supervise", "status"], { cwd: dir });
    expect(table.stdout).toMatch(/^web@far\s+\d+\s+running/m);

    const r = oyster(["supervise", "restart", "web@far"], { cwd: dir, timeoutMs: 20_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^web@far: (starting|running) \(pid \d+\)$/m);
    const after = await waitFor(
      "web healthy again",
      () => status().find((x) => x.name === "web" && x.health === "healthy" && x.pid !== before.pid),
      { timeoutMs: 15_000 },
    );
    expect(after.restarts).toBe(1);
    expect(Number(readFileSync(pidFile, "utf8").trim())).toBe(after.pid!);
    // Only the named service was restarted.
    expect(status().find((x) => x.name === "here")!.restarts).toBe(0);
  }, 40_000);

  test("a wrong node is refused, naming the node the service runs on", () => {
    const r = oyster(["supervise", "restart", "web@near"], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('service "web" runs on node "far", not on "near" (known: web@far, here)');
  });

  test("`supervise logs` prefixes the remote service as web@far; `logs web@far` shows its own", async () => {
    const proc = Bun.spawn([OYSTER_BIN, "supervise", "logs"], {
      cwd: dir,
      env: cleanEnv(),
      stdout: "pipe",
      stderr: "pipe",
    });
    let out = "";
    void (async () => {
      for await (const c of proc.stdout) out += Buffer.from(c).toString();
    })();
    try {
      await waitFor(
        "both services' lines",
        () =>
          /^web@far \| \S+Z stdout listening on \d+$/m.test(out) &&
          /^here {4}\| \S+Z stdout here-up$/m.test(out),
      );
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
    }
    const one = oyster(["supervise", "logs", "web@far", "-n", "50"], { cwd: dir });
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^\S+Z stdout listening on \d+$/m);
    expect(one.stdout).not.toContain("here-up");
  }, 30_000);
});
