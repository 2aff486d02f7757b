import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { allStats } from "../../src/os/proc.ts";
import { OYSTER_BIN, oyster, waitFor } from "../helpers/cli.ts";
import { cmdlineOf, descendsFrom } from "../helpers/procs.ts";
import {
  alive,
  freePort,
  killAll,
  markedSleeps,
  processesMentioning,
  SERVICE_COMMAND,
  superviseSuite,
} from "../supervisor/helpers.ts";

const { allRunning, defer, setup, status } = superviseSuite("oyster-sup-restart-");

/** Live processes whose argv or environment carries this test's per-service marker. */
const copies = (dir: string, name: string) => processesMentioning(join(dir, `mark-${name}`));

/** Those of them running `sleep SECONDS` (a daemon of the test, told apart by its argument). */
const sleeps = (dir: string, name: string, seconds: number) =>
  markedSleeps(join(dir, `mark-${name}`), seconds);

/** Zombie processes whose parent is pid. */
const zombieChildren = (pid: number): number[] =>
  allStats()
    .filter((s) => s.state === "Z" && s.ppid === pid)
    .map((s) => s.pid);

/** The live process with exactly this command line that descends from root (or 0). */
const byArgv = (cmdline: string, root: number): number =>
  allStats().find((s) => cmdlineOf(s.pid) === cmdline && alive(s.pid) && descendsFrom(s.pid, root))?.pid ?? 0;

/** A shell service whose processes all carry MARK in their environment. */
const shellSvc = (dir: string, name: string, script: string, extra = "") =>
  `  - name: ${name}
    command: ["sh", "-c", ${JSON.stringify(script)}]
    env: { MARK: ${JSON.stringify(join(dir, `mark-${name}`))} }
${extra}`;

describe("oyster supervise across its own restarts", () => {
  test("kill -9 of the supervisor, then a restart: exactly one copy of each service, the old ones gone", async () => {
    const { dir, sup } = setup();
    const port = freePort();
    // web ignores SIGTERM: what the old supervisor left must be SIGKILLed after stop_timeout.
    const yaml = `services:
  - name: web
    command: ${SERVICE_COMMAND}
    env: { PORT: "${port}", IGNORE_TERM: "1", MARK: ${JSON.stringify(join(dir, "mark-web"))} }
    health: { port: ${port}, interval: 500ms, grace: 3s }
    stop_timeout: 1s
${shellSvc(dir, "plain", "exec sleep 3001")}
${shellSvc(dir, "daemon", "setsid sleep 3002 </dev/null >/dev/null 2>&1 & exec sleep 3003")}
`;
    const first = sup(yaml);
    await waitFor("3 services up", () => allRunning(dir, 3), { timeoutMs: 15_000 });
    await waitFor("daemon's setsid child", () => copies(dir, "daemon").length === 2);
    const old = { web: copies(dir, "web"), plain: copies(dir, "plain"), daemon: copies(dir, "daemon") };
    expect(old.web.length, `web: ${old.web}`).toBe(1);
    expect(old.plain.length).toBe(1);

    // The registry is private and names the running instances.
    const stateDir = join(dir, ".oyster");
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    const reg = join(stateDir, "supervise-services.json");
    expect(statSync(reg).mode & 0o777).toBe(0o600);
    const recorded = JSON.parse(readFileSync(reg, "utf8")) as { services: Record<string, { pid: number }> };
    expect(Object.keys(recorded.services).sort()).toEqual(["daemon", "plain", "web"]);

    first.proc.kill("SIGKILL");
    await first.proc.exited;
    // The fault: the services outlive their supervisor.
    for (const pids of Object.values(old)) for (const p of pids) expect(alive(p)).toBe(true);

    const second = sup(yaml);
    const rows = await waitFor("3 services up again", () => allRunning(dir, 3), { timeoutMs: 20_000 });
    await waitFor("daemon's new setsid child", () => copies(dir, "daemon").length === 2);
    // Exactly one copy of each: the old ones were stopped before anything started.
    expect(copies(dir, "web").length).toBe(1);
    expect(copies(dir, "plain").length).toBe(1);
    expect(copies(dir, "daemon").length).toBe(2);
    for (const pids of Object.values(old)) for (const p of pids) expect(alive(p)).toBe(false);
    for (const r of rows) expect(Object.values(old).flat()).not.toContain(r.pid);
    expect(second.stderr()).toContain("left by a previous supervisor");

    // A clean stop leaves nothing, the setsid'ed daemon included.
    second.proc.kill("SIGTERM");
    expect(await second.proc.exited).toBe(0);
    expect(processesMentioning(dir)).toEqual([]);
  }, 60_000);

  test("a service that setsids a grandchild and exits leaks nothing across restarts or stop", async () => {
    const { dir, sup } = setup();
    const starts = join(dir, "starts");
    const s = sup(`services:
${shellSvc(dir, "leaky", `echo x >> ${JSON.stringify(starts)}; setsid sleep 3004 </dev/null >/dev/null 2>&1 & sleep 0.3; exit 3`, "    backoff: { initial: 200ms, max: 400ms }\n")}
${shellSvc(dir, "forker", "setsid sleep 3005 </dev/null >/dev/null 2>&1 & exec sleep 3006")}
${shellSvc(dir, "optout", "env -i setsid sleep 3008 </dev/null >/dev/null 2>&1 & exec sleep 3009")}
`);
    const nStarts = () => (existsSync(starts) ? readFileSync(starts, "utf8").trim().split("\n").length : 0);
    // Every restart of "leaky" leaves no daemon behind: at most the current instance's one.
    let maxLeaky = 0;
    await waitFor(
      "4 starts of leaky",
      () => {
        maxLeaky = Math.max(maxLeaky, sleeps(dir, "leaky", 3004).length);
        return nStarts() >= 4;
      },
      { timeoutMs: 15_000, intervalMs: 20 },
    );
    // Only the current instance's daemon, never one per restart.
    expect(maxLeaky).toBe(1);
    expect(oyster(["supervise", "stop", "leaky"], { cwd: dir }).code).toBe(0);
    expect(copies(dir, "leaky")).toEqual([]);

    // restart NAME: the old daemonized child goes with its service.
    await waitFor("forker up", () => copies(dir, "forker").length === 2);
    const before = copies(dir, "forker");
    expect(oyster(["supervise", "restart", "forker"], { cwd: dir }).code).toBe(0);
    await waitFor("forker back", () => copies(dir, "forker").length === 2);
    for (const p of before) expect(alive(p)).toBe(false);
    expect(oyster(["supervise", "stop", "forker"], { cwd: dir }).code).toBe(0);
    expect(copies(dir, "forker")).toEqual([]);

    // The orphans the supervisor adopted as subreaper (the killed daemons) are reaped, not zombies.
    await waitFor("no zombie children", () => zombieChildren(s.proc.pid).length === 0, { timeoutMs: 3_000 });

    // A daemon that removed the marker from its environment (env -i) opted out of its service's
    // lifetime, as oyster's own run wrappers do: an orphan of the supervisor (subreaper) at
    // shutdown, left running and named in the log.
    const detached = await waitFor("detached daemon", () => byArgv("sleep\x003008\x00", s.proc.pid));
    defer(() => killAll([detached]));
    s.proc.kill("SIGINT");
    expect(await s.proc.exited).toBe(0);
    expect(processesMentioning(dir)).toEqual([]);
    expect(alive(detached)).toBe(true);
    expect(s.stderr()).toMatch(/leaving 1 detached process\(es\) running \(no service marker\): \d+/);
  }, 40_000);

  test("runs started by a supervised `oyster run` outlive its restarts and the supervisor's kill -9", async () => {
    const { dir, sup } = setup();
    const home = join(dir, "node-home");
    const ledger = join(dir, "ledger");
    const yaml = `store: ./o.db
http: { port: 0 }
nodes: [{ name: local, transport: local, slots: 2, oyster_home: ${JSON.stringify(home)} }]
loops: { scheduler: { interval: 100ms }, probe: { interval: 1s }, reaper: { interval: 500ms } }
services:
  - name: ctl
    command: [${JSON.stringify(OYSTER_BIN)}, "run"]
    env: { MARK: ${JSON.stringify(join(dir, "mark-ctl"))}, OYSTER_HOME: ${JSON.stringify(home)} }
    stop_timeout: 5s
`;
    writeFileSync(join(dir, "oyster.yaml"), yaml);
    writeFileSync(
      join(dir, "long.md"),
      `---\ntask_id: long\ncommand: ${JSON.stringify(`echo ran >> ${ledger}; exec sleep 3010`)}\n---\nlong\n`,
    );
    expect(oyster(["submit", join(dir, "long.md")], { cwd: dir, env: { OYSTER_HOME: home } }).code).toBe(0);
    const first = sup(yaml);
    const task = await waitFor("the task's process", () => byArgv("sleep\x003010\x00", 1) || null, {
      timeoutMs: 15_000,
    });
    const ctl = status(dir)[0]!.pid!;
    // A restart of the controller service stops the controller, not its runs.
    expect(oyster(["supervise", "restart", "ctl"], { cwd: dir }).code).toBe(0);
    expect(alive(ctl)).toBe(false);
    expect(alive(task)).toBe(true);
    // Nor does a supervisor restarted after kill -9, which stops what the old one left.
    const ctl2 = status(dir)[0]!.pid!;
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    const second = sup(yaml);
    await waitFor("ctl running again", () => status(dir)[0]?.status === "running");
    expect(alive(ctl2)).toBe(false);
    expect(alive(task)).toBe(true);
    second.proc.kill("SIGTERM");
    expect(await second.proc.exited).toBe(0);
    expect(alive(task)).toBe(true);
    // It ran once.
    expect(readFileSync(ledger, "utf8")).toBe("ran\n");
  }, 60_000);

  test("a second supervisor on the same state dir is refused, naming the one that holds it", async () => {
    const { dir, sup } = setup();
    const first = sup(`services:\n${shellSvc(dir, "one", "exec sleep 3007")}`);
    await waitFor("up", () => status(dir)[0]?.status === "running");
    const r = oyster(["supervise"], { cwd: dir, timeoutMs: 10_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("already running");
    expect(r.stderr).toContain(`pid ${first.proc.pid}`);
    // The refused one touched nothing: still exactly one copy, same pid.
    expect(copies(dir, "one").length).toBe(1);
    expect(first.proc.exitCode).toBeNull();
  }, 20_000);
});
