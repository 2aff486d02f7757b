import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { NodeConfig } from "../../src/config/schema.ts";
import type { RunStatus } from "../../src/protocol/messages.ts";
import { createTransport, type TransportOptions } from "../../src/remote/index.ts";
import { SshConnection } from "../../src/remote/ssh/connection.ts";
import type { SshTransport } from "../../src/remote/ssh/transport.ts";
import { type Transport, TransportError } from "../../src/remote/transport.ts";
import { OYSTER_BIN, tempDir, waitFor } from "../helpers/cli.ts";
import { alive } from "../helpers/procs.ts";
import { type SshNode, startSshNode } from "../helpers/sshd.ts";

/**
 * The ssh transport against real OpenSSH sshd nodes on 127.0.0.2/127.0.0.3, with the built
 * binary as each node's oyster_bin.
 */
const OPTS: TransportOptions = {
  connectTimeoutMs: 3_000,
  commandTimeoutMs: 5_000,
  keepaliveMs: 1_000,
  killGraceMs: 500,
  minBackoffMs: 100,
  maxBackoffMs: 500,
};
const PWNED = `/tmp/pwned-${process.pid}-${Date.now()}`;
const EVIL = `$(touch ${PWNED}); \`touch ${PWNED}\`; rm -rf ~ ' " \\ \n $HOME && touch ${PWNED}`;

let a: SshNode;
let b: SshNode;
let scratch: { path: string; cleanup: () => void };
const transports: Transport[] = [];

function transport(
  node: SshNode,
  overrides: Record<string, unknown> = {},
  opts: Partial<TransportOptions> = {},
) {
  const t = createTransport(node.nodeConfig(overrides) as NodeConfig, { ...OPTS, ...opts });
  transports.push(t);
  return t;
}

const env = { OYSTER_HEARTBEAT_MS: "100" };

beforeAll(async () => {
  scratch = tempDir("oyster-remote-e2e-");
  [a, b] = await Promise.all([
    startSshNode({ address: "127.0.0.2", name: "a", env }),
    startSshNode({ address: "127.0.0.3", name: "b", env }),
  ]);
});

afterAll(async () => {
  await Promise.all(transports.map((t) => t.close()));
  await Promise.all([a?.destroy(), b?.destroy()]);
  scratch.cleanup();
});

let n = 0;
const req = (argv: string[], vars: Record<string, string> = {}) => {
  n++;
  return { run_id: `e2e-${n}`, task_id: `task-${n}`, spec: `spec ${n}\n`, argv, vars };
};

describe("ssh transport over a real sshd", () => {
  test("version, resources, start → pushed run_finished, list, kill", async () => {
    const t = transport(a);
    const finished: RunStatus[] = [];
    t.onRunFinished((s) => finished.push(s));
    expect(await t.version()).toBe(Bun.spawnSync([OYSTER_BIN, "--version"]).stdout.toString().trim());
    const r = await t.resources();
    expect(r.platform).toBe("linux");
    expect(r.mem_total_mb).toBeGreaterThan(0);

    const quick = req(["sh", "-c", "echo hello from $OYSTER_RUN_ID; exit 0"]);
    const s = await t.start(quick);
    expect(["starting", "running", "succeeded"]).toContain(s.state);
    const ev = await waitFor("run_finished push", () => finished.find((f) => f.run_id === quick.run_id));
    expect(ev).toMatchObject({ state: "succeeded", exit_code: 0, task_id: quick.task_id });
    expect(readFileSync(join(a.home, "runs", quick.run_id, "output.log"), "utf8")).toBe(
      `hello from ${quick.run_id}\n`,
    );

    const long = req(["sleep", "30"]);
    const ls = await t.start(long);
    expect(["starting", "running"]).toContain(ls.state);
    await waitFor("listed as running", async () =>
      (await t.list()).some((x) => x.run_id === long.run_id && x.state === "running"),
    );
    await t.kill(long.run_id);
    await t.kill(long.run_id); // idempotent
    await t.kill("never-existed");
    const killed = await waitFor("killed push", () => finished.find((f) => f.run_id === long.run_id));
    expect(killed.state).toBe("killed");
  });

  test("shell metacharacters in task ids, vars and paths are never executed", async () => {
    // The node's home itself has a hostile name; it crosses the remote shell as one quoted word.
    const home = join(a.dir, `home $(touch ${PWNED}) 'x'`);
    const t = transport(a, { oyster_home: home });
    const finished: RunStatus[] = [];
    t.onRunFinished((s) => finished.push(s));
    const r = {
      ...req(["printf", "%s|%s\\n", "{task_id}", "{command}"], {
        task_id: EVIL,
        command: `; rm -rf ~ ${EVIL}`,
      }),
    };
    r.task_id = EVIL;
    await t.start(r);
    const ev = await waitFor("run end", () => finished.find((f) => f.run_id === r.run_id));
    expect(ev.state).toBe("succeeded");
    expect(ev.task_id).toBe(EVIL);
    expect(readFileSync(join(home, "runs", r.run_id, "output.log"), "utf8")).toBe(
      `${EVIL}|; rm -rf ~ ${EVIL}\n`,
    );
    await expect(t.kill(`$(touch ${PWNED})`)).rejects.toThrow(/invalid run id/);
    expect(existsSync(PWNED)).toBe(false);
  });

  test("without the agent (old binary) every call falls back to one-off exec, still quoted", async () => {
    const shim = join(b.dir, "bin", "oyster-noagent");
    writeFileSync(
      shim,
      `#!/bin/sh\nif [ "$1" = exec ] && [ "$2" = agent ]; then echo "unknown command agent" >&2; exit 2; fi\nexec ${OYSTER_BIN} "$@"\n`,
    );
    chmodSync(shim, 0o755);
    const t = transport(b, { oyster_bin: shim });
    expect(await t.version()).toMatch(/^oyster /);
    const r = req(["printf", "%s", "{task_id}"], { task_id: EVIL });
    const s = await t.start(r);
    expect(s.run_id).toBe(r.run_id);
    await waitFor("run end via list", async () =>
      (await t.list()).find((x) => x.run_id === r.run_id && x.state === "succeeded"),
    );
    expect(readFileSync(join(b.home, "runs", r.run_id, "output.log"), "utf8")).toBe(EVIL);
    expect((await t.resources()).cpus).toBeGreaterThan(0);
    await t.kill(r.run_id);
    expect(existsSync(PWNED)).toBe(false);
  });

  test("upload installs a binary atomically at oyster_bin (parent dir created)", async () => {
    const t = transport(b, { oyster_bin: join(b.dir, "newbin", "sub", "oyster") }) as SshTransport;
    await t.upload(OYSTER_BIN);
    expect(await t.version()).toMatch(/^oyster /);
    expect(readdirSync(join(b.dir, "newbin", "sub"))).toEqual(["oyster"]);
  });
});

describe("host keys", () => {
  test("an unknown host key is refused with advice", async () => {
    const kh = join(scratch.path, "empty_known_hosts");
    writeFileSync(kh, "");
    const t = transport(a, { known_hosts: kh });
    const err = await t.version().catch((e) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err.kind).toBe("host_key");
    expect(err.message).toContain(`unknown host key for node "a" ([127.0.0.2]:${a.port})`);
    expect(err.message).toContain("ssh-keyscan");
    expect(err.message).toContain("accept-new");
    expect(readFileSync(kh, "utf8")).toBe("");
  });

  test("a changed host key is refused loudly, even with accept-new", async () => {
    const kh = join(scratch.path, "changed_known_hosts");
    // b's key recorded under a's name: a now "presents a different key".
    writeFileSync(kh, `${b.hostKeyLine.replace(`[127.0.0.3]:${b.port}`, `[127.0.0.2]:${a.port}`)}\n`);
    const t = transport(a, { known_hosts: kh, host_key: "accept-new" });
    const err = await t.version().catch((e) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(err.kind).toBe("host_key");
    expect(err.message).toContain("HAS CHANGED");
    expect(err.message).toContain("ssh-keygen -R");
  });

  test("accept-new records the key and then trusts it", async () => {
    const kh = join(scratch.path, "sub", "accept_known_hosts");
    const t = transport(a, { known_hosts: kh, host_key: "accept-new" });
    expect(await t.version()).toMatch(/^oyster /);
    expect(readFileSync(kh, "utf8")).toBe(`${a.hostKeyLine}\n`);
    const strict = transport(a, { known_hosts: kh, host_key: "strict" });
    expect(await strict.version()).toMatch(/^oyster /);
  });

  test("a wrong client key is an auth error", async () => {
    const t = transport(a, { key: b.keyPath });
    const err = await t.version().catch((e) => e);
    expect(err).toMatchObject({ kind: "auth" });
  });
});

describe("failures", () => {
  test("sshd stopping mid-session fails calls fast; the transport reconnects by itself", async () => {
    const node = await startSshNode({ address: "127.0.0.3", name: "flaky", env });
    try {
      const t = transport(node) as SshTransport;
      let reconnects = 0;
      t.onReconnected(() => reconnects++);
      await t.warm();
      expect(await t.version()).toMatch(/^oyster /);
      // A run keeps going while sshd is down (runs never depend on the session).
      const r = req(["sleep", "1.5"]);
      await t.start(r);
      await node.stop();
      const t0 = Date.now();
      const err = await t.list().catch((e) => e);
      expect(err).toBeInstanceOf(TransportError);
      expect(["closed", "connect"]).toContain(err.kind);
      expect(Date.now() - t0).toBeLessThan(2_000);
      await node.start();
      await waitFor("reconnected callback", () => reconnects > 0, { timeoutMs: 10_000 });
      const runs = await t.list();
      expect(runs.find((x) => x.run_id === r.run_id)).toBeDefined();
      await waitFor(
        "run finished while sshd was down",
        async () => (await t.list()).find((x) => x.run_id === r.run_id && x.state === "succeeded"),
        { timeoutMs: 5_000 },
      );
    } finally {
      await node.destroy();
    }
  });

  test("an unreachable node fails with a connect error, not a hang", async () => {
    const t = transport(a, { host: "127.0.0.9", port: 1 });
    const t0 = Date.now();
    const err = await t.version().catch((e) => e);
    expect(err).toMatchObject({ kind: "connect" });
    expect(err.message).toContain("127.0.0.9");
    expect(Date.now() - t0).toBeLessThan(3_000);
  });

  test("a command that hangs on the node hits the command timeout", async () => {
    const hang = join(a.dir, "bin", "oyster-hang");
    // An agent that accepts the channel but never answers, and a one-off command that never ends.
    writeFileSync(hang, "#!/bin/sh\nexec sleep 30\n");
    chmodSync(hang, 0o755);
    const t = transport(a, { oyster_bin: hang }, { commandTimeoutMs: 700 });
    const t0 = Date.now();
    const err = await t.version().catch((e) => e);
    expect(err).toMatchObject({ kind: "timeout" });
    expect(Date.now() - t0).toBeLessThan(3_000);

    const conn = new SshConnection(a.nodeConfig() as NodeConfig, { ...OPTS, commandTimeoutMs: 500 });
    try {
      const e2 = await conn.exec("sleep 30").catch((e) => e);
      expect(e2).toMatchObject({ kind: "timeout" });
      // The connection stays usable after a timed-out command.
      expect((await conn.exec("echo ok")).stdout).toBe("ok\n");
    } finally {
      await conn.close();
      // Without a pty nothing tells a timed-out remote command to stop; clear this test's orphans.
      a.killRuns();
    }
  });
});

test("nothing from these tests is left running on the nodes", async () => {
  await Promise.all(transports.map((t) => t.close()));
  // Every process sshd started for a node carries OYSTER_TEST_NODE=<its dir> (see helpers/sshd.ts).
  const mine = () =>
    readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          const environ = readFileSync(`/proc/${d}/environ`, "utf8");
          return (
            alive(Number(d)) && [a.dir, b.dir].some((dir) => environ.includes(`OYSTER_TEST_NODE=${dir}\0`))
          );
        } catch {
          return false;
        }
      });
  await waitFor("agents to exit once their channels close", () => mine().length === 0, { timeoutMs: 5_000 });
});
