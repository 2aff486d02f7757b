import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { OYSTER_BIN, oyster, spawnController, tempDir, waitFor } from "../helpers/cli.ts";
import { alive } from "../helpers/procs.ts";
import { type SshNode, startSshNode } from "../helpers/sshd.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * Issue 10, points 1, 6 and 7, on the built binary with real OpenSSH nodes (127.0.0.41–46):
 * a start whose reply is lost, a run whose wrapper is killed while its executor lives on, and
 * a node whose disk is full. Every task appends to a ledger, so "ran exactly once" and "never
 * overlapped" are read from what the executions themselves wrote.
 */

interface Env {
  dir: { path: string; cleanup: () => void };
  nodes: SshNode[];
  controller: Subprocess | null;
  cleanups: (() => void)[];
}
const envs: Env[] = [];

function newEnv(prefix: string): Env {
  const e: Env = { dir: tempDir(prefix), nodes: [], controller: null, cleanups: [] };
  envs.push(e);
  return e;
}

afterAll(async () => {
  for (const e of envs) {
    if (e.controller) {
      e.controller.kill("SIGTERM");
      await Promise.race([e.controller.exited, Bun.sleep(10_000)]);
      if (e.controller.exitCode === null) e.controller.kill("SIGKILL");
    }
    for (const n of e.nodes) n.killRuns();
    for (const c of e.cleanups) c();
    for (const n of e.nodes) await n.destroy();
    e.dir.cleanup();
  }
});

function writeConfig(e: Env, lines: string[], nodes: Record<string, unknown>[]): void {
  const cfg = [
    "store: ./o.db",
    "http: { port: 0 }",
    ...lines,
    "nodes:",
    ...nodes.map((n) => `  - ${JSON.stringify(n)}`),
  ];
  writeFileSync(join(e.dir.path, "oyster.yaml"), `${cfg.join("\n")}\n`);
}

function submit(e: Env, sub: string, specs: Record<string, Record<string, unknown>>): void {
  const d = join(e.dir.path, sub);
  mkdirSync(d, { recursive: true });
  for (const [id, fm] of Object.entries(specs)) {
    const lines = Object.entries({ task_id: id, ...fm }).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
    writeFileSync(join(d, `${id}.md`), `---\n${lines.join("\n")}\n---\nbody\n`);
  }
  const r = oyster(["submit", d], { cwd: e.dir.path });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
}

/** Ledger lines: `<task> <run> <event> <ns timestamp>`, read back with the time in µs. */
function ledger(path: string): { task: string; run: string; ev: string; us: number }[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [task, run, ev, ns] = l.split(" ");
      return { task: task!, run: run!, ev: ev!, us: Number(BigInt(ns!) / 1000n) };
    });
}
const ledgerCmd = (path: string, ev: string) =>
  `echo "$OYSTER_TASK_ID $OYSTER_RUN_ID ${ev} $(date +%s%N)" >> ${JSON.stringify(path)}`;

function script(path: string, body: string): string {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

describe("a start whose reply is lost", () => {
  const e = newEnv("oyster-e2e-lost-reply-");
  const led = join(e.dir.path, "ledger");
  const { q, count } = storeReader(join(e.dir.path, "o.db"));

  test("is asked again with the same run id or resolved by listing the node: each max_attempts 1 task runs once and succeeds, and the scheduler keeps turning", async () => {
    const real = JSON.stringify(OYSTER_BIN);
    // Node s1: no agent (one-off execs); every `exec start` answers 5 s late, past the 2 s
    // command timeout. The run itself starts at once.
    const slowExec = script(
      join(e.dir.path, "slow-exec"),
      [
        `if [ "$1" = exec ] && [ "$2" = agent ]; then echo "agent disabled by the test" >&2; exit 3; fi`,
        `if [ "$1" = exec ] && [ "$2" = start ]; then out=$(${real} "$@"); rc=$?; sleep 5; printf '%s\\n' "$out"; exit $rc; fi`,
        `exec ${real} "$@"`,
      ].join("\n"),
    );
    // Node s2: the agent session, with each reply to a start held back 5 s (other replies and
    // pushes pass at once).
    const slowAgent = script(
      join(e.dir.path, "slow-agent"),
      [
        `if [ "$1" = exec ] && [ "$2" = agent ]; then`,
        `  ${real} "$@" | while IFS= read -r line; do`,
        `    case "$line" in *'"ok":true,"result":{"run_id"'*) (sleep 5; printf '%s\\n' "$line") & ;; *) printf '%s\\n' "$line" ;; esac`,
        "  done; wait; exit 0",
        "fi",
        `exec ${real} "$@"`,
      ].join("\n"),
    );
    e.nodes.push(await startSshNode({ address: "127.0.0.41", name: "s1", binary: OYSTER_BIN }));
    e.nodes.push(await startSshNode({ address: "127.0.0.42", name: "s2", binary: OYSTER_BIN }));
    writeConfig(
      e,
      [
        "loops: { scheduler: { interval: 100ms, unhealthy_after: 1500ms }, probe: { interval: 1h }, reaper: { interval: 300ms } }",
        "ssh: { connect_timeout: 2s, command_timeout: 2s }",
        "breaker: { failures: 100 }",
        "retry: { backoff: 100ms, auto_revive: 0 }",
      ],
      [
        e.nodes[0]!.nodeConfig({ slots: 2, oyster_bin: slowExec }),
        e.nodes[1]!.nodeConfig({ slots: 2, oyster_bin: slowAgent }),
      ],
    );
    e.controller = spawnController(e.dir.path);
    await waitFor(
      "both nodes online",
      () => count("SELECT COUNT(*) AS n FROM nodes WHERE online = 1") === 2,
      {
        timeoutMs: 20_000,
      },
    );
    const url = await waitFor(
      "the controller's URL",
      () => q<{ value: string }>("SELECT value FROM settings WHERE key = 'http_url'")[0]?.value,
    );
    const ids = ["lr-1", "lr-2", "lr-3", "lr-4"];
    submit(
      e,
      "specs",
      Object.fromEntries(ids.map((id) => [id, { command: ledgerCmd(led, "ran"), max_attempts: 1 }])),
    );
    // While every start hangs, the scheduler keeps turning: its heartbeat never goes stale.
    const schedulerHealth: boolean[] = [];
    await waitFor(
      "every task final",
      async () => {
        const h = (await (await fetch(`${url}/health`)).json()) as {
          loops: { scheduler: { healthy: boolean } };
        };
        schedulerHealth.push(h.loops.scheduler.healthy);
        return (
          count("SELECT COUNT(*) AS n FROM tasks WHERE status IN ('succeeded','dead','cancelled')") ===
          ids.length
        );
      },
      { timeoutMs: 45_000 },
    );
    expect(schedulerHealth.length).toBeGreaterThan(10);
    expect(schedulerHealth.every(Boolean)).toBe(true);
    expect(q("SELECT task_id, status, attempts FROM tasks ORDER BY task_id")).toEqual(
      ids.map((id) => ({ task_id: id, status: "succeeded", attempts: 1 })),
    );
    // One run per task, and each executed exactly once (the task's own ledger).
    expect(count("SELECT COUNT(*) AS n FROM runs")).toBe(ids.length);
    const lines = ledger(led);
    expect(lines.map((l) => l.task).sort()).toEqual(ids);
    // The fault was real: starts went unanswered on both nodes and were resolved by asking.
    const unresolved = q<{ node: string }>(
      "SELECT DISTINCT node FROM events WHERE kind = 'launch_unresolved' ORDER BY node",
    );
    expect(unresolved.map((r) => r.node)).toEqual(["s1", "s2"]);
    // Nothing charged the fleet-wide executor breaker.
    expect(count("SELECT COUNT(*) AS n FROM breakers WHERE key = 'executor:shell' AND failures > 0")).toBe(0);
  }, 90_000);
});

describe("a run lost mid-flight", () => {
  const e = newEnv("oyster-e2e-lost-run-");
  const { q, count } = storeReader(join(e.dir.path, "o.db"));
  let ready: Promise<void> | null = null;
  const setup = () =>
    (ready ??= (async () => {
      e.nodes.push(await startSshNode({ address: "127.0.0.43", name: "l1" }));
      e.nodes.push(await startSshNode({ address: "127.0.0.44", name: "l2" }));
      writeConfig(
        e,
        [
          "loops: { scheduler: { interval: 100ms }, probe: { interval: 1h }, reaper: { interval: 300ms } }",
          "ssh: { connect_timeout: 2s, command_timeout: 3s }",
          "retry: { backoff: 100ms, auto_revive: 0 }",
        ],
        e.nodes.map((n) => n.nodeConfig({ slots: 2 })),
      );
      e.controller = spawnController(e.dir.path);
      await waitFor(
        "both nodes online",
        () => count("SELECT COUNT(*) AS n FROM nodes WHERE online = 1") === 2,
        {
          timeoutMs: 20_000,
        },
      );
    })());

  /**
   * Task `<tag>-a` ticks into the ledger while `<tag>-b` waits for the same `modifies` path; the
   * fault hits a's run; then nothing of a's old run may be written after anything of a later run.
   */
  async function lostRun(
    tag: string,
    fault: (node: SshNode, runId: string, wrapperPid: number) => void,
    event: string,
  ) {
    await setup();
    const led = join(e.dir.path, `ledger-${tag}`);
    const [a, b, path] = [`${tag}-a`, `${tag}-b`, `src/${tag}.ts`];
    // The executor ignores SIGTERM, so the kill needs its grace and then SIGKILL: a task rerun
    // (or a task waiting on the same file) that starts before that overlaps it in the ledger.
    const ticking = `trap '' TERM; ${ledgerCmd(led, "start")}; i=0; while [ $i -lt 60 ]; do ${ledgerCmd(led, "tick")}; sleep 0.1; i=$((i+1)); done; ${ledgerCmd(led, "end")}`;
    submit(e, a, { [a]: { command: ticking, modifies: [path], max_attempts: 3 } });
    const first = await waitFor(
      `${a} running with its executor's pid recorded`,
      () =>
        q<{ run_id: string; node: string; pid: number | null }>(
          "SELECT run_id, node, pid FROM runs WHERE task_id = ? AND state = 'running' AND pid IS NOT NULL",
          a,
        )[0],
      { timeoutMs: 15_000 },
    );
    submit(e, b, {
      [b]: { command: `${ledgerCmd(led, "start")}; ${ledgerCmd(led, "end")}`, modifies: [path] },
    });
    const node = e.nodes.find((n) => n.name === first.node)!;
    const st = JSON.parse(readFileSync(join(node.home, "runs", first.run_id, "status.json"), "utf8")) as {
      pid: number;
      wrapper_pid: number;
    };
    // The store recorded the executor's group leader from the node.
    expect(first.pid).toBe(st.pid);
    await waitFor("a tick in the ledger", () => ledger(led).some((l) => l.ev === "tick"));
    fault(node, first.run_id, st.wrapper_pid);
    const at = Date.now();
    // Several reaper sweeps later the old group still lives (its SIGTERM grace is 5 s): the task
    // and the lock stay with the lost run, and no other run of either task exists.
    await waitFor("three reaper intervals", () => Date.now() - at > 1_000, { timeoutMs: 3_000 });
    expect(alive(st.pid)).toBe(true);
    expect(q("SELECT run_id FROM file_locks WHERE path = ?", path)).toEqual([{ run_id: first.run_id }]);
    expect(
      count("SELECT COUNT(*) AS n FROM runs WHERE task_id IN (?, ?) AND run_id <> ?", a, b, first.run_id),
    ).toBe(0);
    await waitFor(
      "both tasks succeeded",
      () =>
        count("SELECT COUNT(*) AS n FROM tasks WHERE task_id IN (?, ?) AND status = 'succeeded'", a, b) === 2,
      { timeoutMs: 45_000 },
    );
    expect(alive(st.pid)).toBe(false);
    expect(q("SELECT state FROM runs WHERE task_id = ? ORDER BY attempt", a)).toEqual([
      { state: "lost" },
      { state: "succeeded" },
    ]);
    // No overlap: every line of the lost run precedes every line of any later run.
    const lines = ledger(led);
    const old = lines.filter((l) => l.run === first.run_id);
    const later = lines.filter((l) => l.run !== first.run_id);
    expect(old.length).toBeGreaterThan(1);
    expect(old.some((l) => l.ev === "end")).toBe(false);
    expect(
      later
        .filter((l) => l.ev === "start")
        .map((l) => l.task)
        .sort(),
    ).toEqual([a, b]);
    expect(Math.min(...later.map((l) => l.us))).toBeGreaterThan(Math.max(...old.map((l) => l.us)));
    expect(count("SELECT COUNT(*) AS n FROM events WHERE kind = ? AND run_id = ?", event, first.run_id)).toBe(
      1,
    );
  }

  test("its wrapper killed: the executor's group is killed before the task runs again, and its modifies lock is held meanwhile", async () => {
    await lostRun("wk", (_node, _run, wrapperPid) => process.kill(wrapperPid, "SIGKILL"), "lost_run_killed");
  }, 90_000);

  test("its run dir deleted too: the group recorded at start is killed before the task runs again", async () => {
    await lostRun(
      "rd",
      (node, runId, wrapperPid) => {
        process.kill(wrapperPid, "SIGKILL");
        rmSync(join(node.home, "runs", runId), { recursive: true, force: true });
      },
      "run_ghost",
    );
  }, 90_000);
});

describe("a node with a full disk", () => {
  const e = newEnv("oyster-e2e-full-disk-");
  const led = join(e.dir.path, "ledger");
  const { q, count } = storeReader(join(e.dir.path, "o.db"));

  test("opens only that node's breaker; the tasks finish on the healthy node and the executor breaker stays closed", async () => {
    e.nodes.push(await startSshNode({ address: "127.0.0.45", name: "full" }));
    e.nodes.push(await startSshNode({ address: "127.0.0.46", name: "ok" }));
    // The full node's runs/ is a tiny tmpfs filled to the last byte: writing a spec is ENOSPC.
    const runs = join(e.nodes[0]!.home, "runs");
    mkdirSync(runs, { recursive: true });
    const mount = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", runs]);
    expect(mount.stderr.toString()).toBe("");
    e.cleanups.push(() => {
      Bun.spawnSync(["umount", "-l", runs]);
    });
    Bun.spawnSync(["dd", "if=/dev/zero", `of=${join(runs, "fill")}`, "bs=4k"]);
    writeConfig(
      e,
      [
        "loops: { scheduler: { interval: 100ms }, probe: { interval: 1h }, reaper: { interval: 500ms } }",
        "ssh: { connect_timeout: 2s, command_timeout: 3s }",
        "breaker: { failures: 3, open_for: 1h }",
        'executors: { hold: { command: ["sh", "-c", "{command}"] } }',
        "retry: { backoff: 100ms, auto_revive: 0 }",
      ],
      // Only the healthy node offers `hold`, so the blocker below never touches the full node.
      [
        e.nodes[0]!.nodeConfig({ slots: 2, executors: ["shell"] }),
        e.nodes[1]!.nodeConfig({ slots: 1, executors: ["shell", "hold"] }),
      ],
    );
    e.controller = spawnController(e.dir.path);
    await waitFor(
      "both nodes online",
      () => count("SELECT COUNT(*) AS n FROM nodes WHERE online = 1") === 2,
      {
        timeoutMs: 20_000,
      },
    );
    // The healthy node's one slot is taken by a task that waits for a file, so the next launches
    // all go to the full node and fail in an unbroken row: what opened the fleet-wide breaker.
    const go = join(e.dir.path, "go");
    submit(e, "blocker", {
      "disk-0": {
        executor: "hold",
        command: `while [ ! -f ${JSON.stringify(go)} ]; do sleep 0.05; done; ${ledgerCmd(led, "ran")}`,
      },
    });
    await waitFor(
      "the blocker running on the healthy node",
      () =>
        count(
          "SELECT COUNT(*) AS n FROM runs WHERE task_id = 'disk-0' AND node = 'ok' AND state = 'running'",
        ) === 1,
      { timeoutMs: 20_000 },
    );
    const ids = Array.from({ length: 8 }, (_, i) => `disk-${i + 1}`);
    submit(e, "specs", Object.fromEntries(ids.map((id) => [id, { command: ledgerCmd(led, "ran") }])));
    await waitFor(
      "the full node's breaker open",
      () => count("SELECT COUNT(*) AS n FROM breakers WHERE key = 'node:full' AND state = 'OPEN'") === 1,
      { timeoutMs: 20_000 },
    );
    writeFileSync(go, "");
    ids.unshift("disk-0");
    await waitFor(
      "every task succeeded",
      () => count("SELECT COUNT(*) AS n FROM tasks WHERE status = 'succeeded'") === ids.length,
      { timeoutMs: 45_000 },
    );
    expect(
      ledger(led)
        .map((l) => l.task)
        .sort(),
    ).toEqual([...ids].sort());
    expect(count("SELECT COUNT(*) AS n FROM runs WHERE state = 'succeeded' AND node <> 'ok'")).toBe(0);
    // The full node really failed launches, with ENOSPC named.
    const failures = q<{ data: string }>(
      "SELECT data FROM events WHERE kind = 'launch_failed' AND node = 'full'",
    );
    expect(failures.length).toBeGreaterThanOrEqual(3);
    expect(JSON.parse(failures[0]!.data)).toMatchObject({ blame: "node" });
    expect(JSON.parse(failures[0]!.data).error).toContain("ENOSPC");
    const breakers = Object.fromEntries(
      q<{ key: string; state: string }>("SELECT key, state FROM breakers").map((b) => [b.key, b.state]),
    );
    expect(breakers["node:full"]).toBe("OPEN");
    expect(breakers["executor:shell"] ?? "CLOSED").toBe("CLOSED");
    expect(breakers["node:ok"] ?? "CLOSED").toBe("CLOSED");
  }, 90_000);
});

describe("a start request held up on the way", () => {
  /**
   * Every start request of the first run id is delivered to the node 12 s late, in a session of
   * its own (so the controller's KILL of the timed-out channel does not stop it): by then the
   * controller has given up on it (after 2 × command_timeout), called that run a ghost and given
   * the task to a second run; 12 s leaves room for a loaded machine. The late start
   * must find the run id fenced off and start nothing: the ledger has one execution.
   */
  async function heldStart(prefix: string, address: string, agent: boolean): Promise<void> {
    const e = newEnv(prefix);
    const led = join(e.dir.path, "ledger");
    const { q, count } = storeReader(join(e.dir.path, "o.db"));
    const real = JSON.stringify(OYSTER_BIN);
    const d = JSON.stringify(e.dir.path);
    // $1: a request (a start's JSON, or an agent line). Held if it names the first run id seen.
    const isHeld = [
      "held_id() {",
      `  id=$(printf '%s' "$1" | sed -n 's/.*"run_id":"\\([^"]*\\)".*/\\1/p')`,
      `  [ -n "$id" ] || return 1`,
      `  [ -s ${d}/first ] || printf '%s' "$id" > ${d}/first`,
      `  [ "$id" = "$(cat ${d}/first)" ]`,
      "}",
    ];
    const proxy = agent
      ? script(
          join(e.dir.path, "held-agent"),
          [
            ...isHeld,
            `if [ "$1" = exec ] && [ "$2" = agent ]; then`,
            "  while IFS= read -r line; do",
            `    case "$line" in *'"op":"start"'*) if held_id "$line"; then echo held >> ${d}/held-log; (sleep 12; printf '%s\\n' "$line"; echo delivered >> ${d}/held-log) & continue; fi ;; esac`,
            `    printf '%s\\n' "$line"`,
            `  done | ${real} "$@"`,
            "  exit 0",
            "fi",
            `exec ${real} "$@"`,
          ].join("\n"),
        )
      : script(
          join(e.dir.path, "held-exec"),
          [
            ...isHeld,
            `if [ "$1" = exec ] && [ "$2" = agent ]; then echo "agent disabled by the test" >&2; exit 3; fi`,
            `if [ "$1" = exec ] && [ "$2" = start ]; then`,
            "  req=$(cat)",
            `  if held_id "$req"; then`,
            `    f=$(mktemp ${d}/held.XXXXXX); printf '%s' "$req" > "$f"; echo held >> ${d}/held-log`,
            `    HELD="$f" LOG=${d}/held-log setsid sh -c 'sleep 12; "$0" "$@" < "$HELD" > /dev/null 2>&1; echo delivered >> "$LOG"' ${real} "$@" < /dev/null > /dev/null 2>&1 &`,
            "    exec sleep 30",
            "  fi",
            `  printf '%s' "$req" | ${real} "$@"; exit $?`,
            "fi",
            `exec ${real} "$@"`,
          ].join("\n"),
        );
    e.nodes.push(await startSshNode({ address, name: "h1", binary: OYSTER_BIN }));
    writeConfig(
      e,
      [
        // A list that times out while a session is torn down takes the node offline: the probe
        // brings it back (an hour-long probe would stall the test, not the code under test).
        "loops: { scheduler: { interval: 100ms }, probe: { interval: 500ms }, reaper: { interval: 300ms } }",
        "ssh: { connect_timeout: 2s, command_timeout: 2s }",
        "breaker: { failures: 100 }",
        "retry: { backoff: 100ms, auto_revive: 0 }",
      ],
      [e.nodes[0]!.nodeConfig({ slots: 2, oyster_bin: proxy })],
    );
    e.controller = spawnController(e.dir.path);
    submit(e, "specs", { held: { command: ledgerCmd(led, "ran"), max_attempts: 1 } });
    await waitFor(
      "the task succeeded",
      () => count("SELECT COUNT(*) AS n FROM tasks WHERE status = 'succeeded'"),
      {
        timeoutMs: 60_000,
      },
    );
    const log = join(e.dir.path, "held-log");
    const heldLog = () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []);
    // Every held request has reached the node, and been refused or answered by then.
    await waitFor(
      "every held start delivered",
      () => {
        const l = heldLog();
        const held = l.filter((x) => x === "held").length;
        return held > 0 && l.filter((x) => x === "delivered").length === held;
      },
      { timeoutMs: 30_000 },
    );
    const first = readFileSync(join(e.dir.path, "first"), "utf8");
    // Give a late start that did get through the time to write its ledger line (an absence
    // cannot be polled for): well over the 11 ms a wrapper takes to start.
    await Bun.sleep(1_000);
    const lines = ledger(led);
    expect(lines.map((l) => l.task)).toEqual(["held"]);
    expect(lines[0]!.run).not.toBe(first);
    expect(q("SELECT run_id, state FROM runs ORDER BY created_at")).toEqual([
      { run_id: first, state: "lost" },
      { run_id: lines[0]!.run, state: "succeeded" },
    ]);
    expect(count("SELECT COUNT(*) AS n FROM events WHERE kind = 'run_ghost' AND run_id = ?", first)).toBe(1);
    // On the node the held run id is fenced off: claimed as abandoned, a killed tombstone.
    const dir = join(e.nodes[0]!.home, "runs", first);
    expect(readFileSync(join(dir, "claim"), "utf8")).toBe("abandoned");
    expect(existsSync(join(dir, "request.json"))).toBe(false);
  }

  test("as one-off execs: the late start is refused and the task runs once", async () => {
    await heldStart("oyster-e2e-held-exec-", "127.0.0.47", false);
  }, 90_000);

  test("on the agent session: the late start is refused and the task runs once", async () => {
    await heldStart("oyster-e2e-held-agent-", "127.0.0.48", true);
  }, 90_000);
});
