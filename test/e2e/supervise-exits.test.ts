import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { oyster, waitFor } from "../helpers/cli.ts";
import { type SshNode, startSshNode } from "../helpers/sshd.ts";
import {
  alive,
  freePort,
  markedSleeps,
  onNode,
  processesMentioning,
  superviseSuite,
} from "../supervisor/helpers.ts";

/**
 * A service's death is its own exit, whatever its children do: a child left holding
 * stdout/stderr (`sleep & exec sleep`) must not hide a kill -9, locally or on an SSH node.
 * And the health probe reads the answer before closing (Python's http.server logs a traceback
 * for every probe that resets the connection).
 */
const { defer, setup, status } = superviseSuite("oyster-supexit-");

/** Live `sleep SECONDS` processes carrying this test's marker in their environment. */
const sleeps = (dir: string, seconds: number) => markedSleeps(join(dir, "mark"), seconds);

/**
 * Kill -9 the service's own process (not its group) and measure until the supervisor counts it
 * dead; then it must be restarted with the old child gone and exactly one copy running.
 */
async function killAndExpectRestart(dir: string, child: number, leader: number): Promise<number> {
  await waitFor("one copy up", () => {
    const r = status(dir)[0];
    return r?.status === "running" && sleeps(dir, child).length === 1 && sleeps(dir, leader).length === 1;
  });
  // Past MIN_UPTIME (1 s): the instance counts as having been healthy, so it restarts at once.
  await waitFor("up for 1.1 s", () => {
    const started = status(dir)[0]?.started_at;
    return started != null && Date.now() - started >= 1_100;
  });
  const before = status(dir)[0]!;
  const oldChild = sleeps(dir, child)[0]!;
  const oldLeader = sleeps(dir, leader)[0]!;
  const t0 = Date.now();
  process.kill(oldLeader, "SIGKILL");
  await waitFor("seen dead", () => status(dir)[0]!.restarts > before.restarts, {
    timeoutMs: 1_000,
    intervalMs: 20,
  });
  const seen = Date.now() - t0;
  await waitFor("restarted, the old child gone", () => {
    const r = status(dir)[0]!;
    return (
      r.status === "running" &&
      !alive(oldChild) &&
      sleeps(dir, child).length === 1 &&
      sleeps(dir, leader).length === 1 &&
      sleeps(dir, leader)[0] !== oldLeader
    );
  });
  return seen;
}

const exitingSvc = (dir: string, child: number, leader: number, extra = "") => `services:
  - name: svc
    command: ["sh", "-c", "sleep ${child} & exec sleep ${leader}"]
    env: { MARK: ${JSON.stringify(join(dir, "mark"))} }
${extra}`;

describe("a service's exit is seen whatever its children hold", () => {
  test("local: kill -9 with a child holding the pipes is seen within 1 s and restarted", async () => {
    const { dir, sup } = setup("oyster-supexit-");
    const s = sup(exitingSvc(dir, 3101, 3102));
    const seen = await killAndExpectRestart(dir, 3101, 3102);
    console.log(`local kill -9 seen dead in ${seen} ms`);
    s.proc.kill("SIGTERM");
    expect(await s.proc.exited).toBe(0);
    expect(processesMentioning(dir)).toEqual([]);
  }, 20_000);

  test("remote over real sshd: kill -9 seen within 1 s, restarted; restart and stop kill the whole group", async () => {
    const node: SshNode = await startSshNode({ address: "127.0.0.10", name: "exitnode" });
    defer(() => node.destroy());
    const { dir, sup } = setup("oyster-supexit-rem-");
    const s = sup(
      `${onNode(node)}${exitingSvc(dir, 3201, 3202, "    host: exitnode\n    stop_timeout: 1s\n")}`,
    );
    const seen = await killAndExpectRestart(dir, 3201, 3202);
    console.log(`remote kill -9 seen dead in ${seen} ms`);

    // restart NAME: the old group (service and its child) is gone, one new copy runs.
    const old = [...sleeps(dir, 3201), ...sleeps(dir, 3202)];
    expect(oyster(["supervise", "restart", "svc"], { cwd: dir }).code).toBe(0);
    await waitFor("one new copy", () => sleeps(dir, 3201).length === 1 && sleeps(dir, 3202).length === 1);
    for (const p of old) expect(alive(p)).toBe(false);

    // stop NAME kills the whole group on the node.
    expect(oyster(["supervise", "stop", "svc"], { cwd: dir }).code).toBe(0);
    await waitFor("group gone", () => sleeps(dir, 3201).length + sleeps(dir, 3202).length === 0, {
      timeoutMs: 3_000,
    });
    s.proc.kill("SIGTERM");
    expect(await s.proc.exited).toBe(0);
  }, 40_000);
});

/**
 * A service that exits on its own leaving a child (holding its output) must not leave that child
 * running while it waits out a long backoff, nor after a stop during the backoff.
 */
async function exitLeavesNothing(dir: string, child: number): Promise<void> {
  await waitFor("exited, in backoff", () => status(dir)[0]?.status === "backoff", { timeoutMs: 10_000 });
  await waitFor("its child gone", () => sleeps(dir, child).length === 0, { timeoutMs: 2_000 });
  expect(oyster(["supervise", "stop", "svc"], { cwd: dir }).code).toBe(0);
  expect(status(dir)[0]!.status).toBe("stopped");
  expect(sleeps(dir, child)).toEqual([]);
}

const crashingSvc = (dir: string, child: number, extra = "") => `services:
  - name: svc
    command: ["sh", "-c", "sleep ${child} & sleep 0.3; exit 7"]
    env: { MARK: ${JSON.stringify(join(dir, "mark"))} }
    backoff: { initial: 30s, max: 60s }
${extra}`;

describe("a service that exits leaves no child behind while it waits to restart", () => {
  test("local", async () => {
    const { dir, sup } = setup("oyster-supexit-bo-");
    sup(crashingSvc(dir, 3103));
    await exitLeavesNothing(dir, 3103);
  }, 20_000);

  test("remote over real sshd", async () => {
    const node: SshNode = await startSshNode({ address: "127.0.0.11", name: "exitnode2" });
    defer(() => node.destroy());
    const { dir, sup } = setup("oyster-supexit-bo-rem-");
    sup(`${onNode(node)}${crashingSvc(dir, 3203, "    host: exitnode2\n")}`);
    await exitLeavesNothing(dir, 3203);
  }, 30_000);
});

/** 20 probes of a Python http.server (a directory listing of a few KB): no traceback in its log. */
async function probeLeavesNoTraceback(prefix: string, node: SshNode | null): Promise<void> {
  const { dir, sup } = setup(prefix);
  // A body of a few KB, so an unread answer is likely still in flight when a probe closes.
  for (let i = 0; i < 200; i++) writeFileSync(join(dir, `file-${i}.txt`), "x\n");
  const port = freePort();
  const where = node ? onNode(node) : "";
  const s = sup(`${where}services:
  - name: py
    command: ["python3", "-m", "http.server", "${port}", "--bind", "127.0.0.1"]
    cwd: ${JSON.stringify(dir)}
    env: { MARK: ${JSON.stringify(join(dir, "mark"))} }
    health: { port: ${port}, path: /, interval: 500ms, grace: 5s }
${node ? `    host: ${node.name}\n` : ""}`);
  const log = join(dir, "logs", "py.log");
  const probes = () => readFileSync(log, "utf8").split('"GET / HTTP').length - 1;
  await waitFor("20 probes answered", () => probes() >= 20, { timeoutMs: 25_000, intervalMs: 200 });
  const text = readFileSync(log, "utf8");
  const count = (needle: string) => text.split(needle).length - 1;
  expect({ tracebacks: count("Traceback"), resets: count("ConnectionResetError") }).toEqual({
    tracebacks: 0,
    resets: 0,
  });
  expect(status(dir)[0]!.health).toBe("healthy");
  s.proc.kill("SIGTERM");
  expect(await s.proc.exited).toBe(0);
}

describe("the health probe reads the answer", () => {
  test("local: a Python http.server probed every 500 ms logs no ConnectionResetError", async () => {
    await probeLeavesNoTraceback("oyster-supprobe-", null);
  }, 35_000);

  test("remote, through the SSH tunnel: the same", async () => {
    const node: SshNode = await startSshNode({ address: "127.0.0.12", name: "probenode" });
    defer(() => node.destroy());
    await probeLeavesNoTraceback("oyster-supprobe-rem-", node);
  }, 40_000);
});
