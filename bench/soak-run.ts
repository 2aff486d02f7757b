import { Database } from "bun:sqlite";
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, OYSTER_BIN, tempDir, waitFor } from "../test/helpers/cli.ts";
import { type SshNode, startSshNode } from "../test/helpers/sshd.ts";

/**
 * The soak (issue 4): `oyster run` with every loop at 1 s on 3 sshd nodes and a steady stream of
 * short tasks, while four other processes run `oyster submit`, `oyster status`, `oyster tasks`
 * and `oyster tasks retry` in a loop. Counts what must stay zero: lock errors in any process,
 * lost or duplicated tasks, other long-lived holders of the store. Used by bench/soak.ts (10 min)
 * and test/e2e/soak.test.ts (60 s).
 */
export interface SoakOptions {
  seconds: number;
  /** First loopback address of the three nodes (127.0.0.X). */
  firstAddress?: number;
  log?: (line: string) => void;
}

export interface SoakResult {
  seconds: number;
  submitted: number;
  succeeded: number;
  dead: number;
  /** Tasks not final after the wind-down. */
  unfinished: number;
  runs: number;
  /** Runs whose executor ran more than once, and tasks with more than one succeeded run. */
  duplicated: number;
  /** Runs the store calls lost (a healthy soak has none). */
  lostRuns: number;
  lockErrors: number;
  /** Client invocations per loop, and how many exited non-zero for another reason than lock errors. */
  clients: Record<string, { calls: number; failures: number; lastError: string }>;
  /** Processes other than the controller seen holding the store open across two samples 2 s apart. */
  longLivedHolders: number;
  controllerErrors: string[];
}

const LOCK = /database is locked|SQLITE_BUSY/i;

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const log = opts.log ?? (() => {});
  const dir = tempDir("oyster-soak-");
  const nodes: SshNode[] = [];
  const execLog = join(dir.path, "executions.log");
  const dbPath = join(dir.path, "soak.db");
  let controller: ReturnType<typeof Bun.spawn> | null = null;
  let stop = false;
  const clients: SoakResult["clients"] = {};
  let lockErrors = 0;
  let seq = 0;
  let submitted = 0;
  try {
    const first = opts.firstAddress ?? 40;
    for (let i = 0; i < 3; i++) nodes.push(await startSshNode({ address: `127.0.0.${first + i}` }));
    writeFileSync(
      join(dir.path, "oyster.yaml"),
      [
        "store: ./soak.db",
        "http: { port: 0 }",
        "loops:",
        ...["scheduler", "probe", "reaper", "guardian", "factory"].map((l) => `  ${l}: { interval: 1s }`),
        "retry: { backoff: 200ms, max_attempts: 1, auto_revive: 0 }",
        `factory: { inbox: ./inbox, min_pending: 0 }`,
        "nodes:",
        ...nodes.map((n) => `  - ${JSON.stringify({ ...n.nodeConfig(), slots: 4 })}`),
        "",
      ].join("\n"),
    );
    const ctlErr: string[] = [];
    controller = Bun.spawn([OYSTER_BIN, "run", "--log-format", "json"], {
      cwd: dir.path,
      stdout: "ignore",
      stderr: "pipe",
      env: cleanEnv({ NO_COLOR: "1" }),
    });
    void (async () => {
      const dec = new TextDecoder();
      for await (const chunk of controller!.stderr as ReadableStream<Uint8Array>)
        ctlErr.push(dec.decode(chunk));
    })();
    await waitFor("the store", () => Bun.file(dbPath).exists(), { timeoutMs: 10_000 });
    const ro = () => new Database(dbPath, { readonly: true });
    const n = (sql: string) => {
      const d = ro();
      try {
        return (d.query(sql).get() as { n: number }).n;
      } finally {
        d.close();
      }
    };
    await waitFor("3 nodes online", () => n("SELECT COUNT(*) AS n FROM nodes WHERE online = 1") === 3, {
      timeoutMs: 20_000,
    });

    const cli = async (name: string, args: () => string[] | null) => {
      clients[name] = { calls: 0, failures: 0, lastError: "" };
      while (!stop) {
        const a = args();
        if (a) {
          const p = Bun.spawn([OYSTER_BIN, ...a], {
            cwd: dir.path,
            stdout: "pipe",
            stderr: "pipe",
            env: cleanEnv({ NO_COLOR: "1" }),
          });
          const [out, err] = await Promise.all([
            new Response(p.stdout).text(),
            new Response(p.stderr).text(),
          ]);
          const code = await p.exited;
          clients[name]!.calls++;
          if (LOCK.test(out + err)) lockErrors++;
          else if (code !== 0) {
            clients[name]!.failures++;
            clients[name]!.lastError = err.trim().split("\n").slice(-1)[0] ?? "";
          }
        }
        await Bun.sleep(name === "submit" ? 250 : 100);
      }
    };
    const specDir = join(dir.path, "specs");
    mkdirSync(specDir);
    let deadIds: string[] = [];
    const submitArgs = () => {
      const batch = join(specDir, `b${seq++}`);
      mkdirSync(batch);
      for (let i = 0; i < 4; i++) {
        const id = `s${seq}-${i}`;
        // One in eight fails, so `tasks retry` has work; the retry of it then succeeds.
        const fail = i === 0 && seq % 2 === 0;
        const cmd = fail
          ? `echo "$OYSTER_RUN_ID" >> ${execLog}; test -e ${join(dir.path, "retried", id)} || { mkdir -p ${join(dir.path, "retried")}; touch ${join(dir.path, "retried", id)}; exit 1; }`
          : `echo "$OYSTER_RUN_ID" >> ${execLog}; sleep 0.1`;
        writeFileSync(
          join(batch, `${id}.md`),
          `---\ntask_id: ${id}\ncommand: ${JSON.stringify(cmd)}\n---\nsoak\n`,
        );
      }
      submitted += 4;
      return ["submit", batch];
    };
    const retryArgs = () => {
      if (deadIds.length === 0) {
        const d = ro();
        try {
          deadIds = (
            d.query("SELECT task_id FROM tasks WHERE status = 'dead'").all() as { task_id: string }[]
          ).map((r) => r.task_id);
        } finally {
          d.close();
        }
      }
      const id = deadIds.shift();
      return id ? ["tasks", "retry", id] : null;
    };
    const holders = new Map<number, number>();
    let longLivedHolders = 0;
    const sampleHolders = async () => {
      while (!stop) {
        const seen = new Set<number>();
        for (const pid of readdirSync("/proc")
          .filter((d) => /^\d+$/.test(d))
          .map(Number)) {
          if (pid === controller!.pid) continue;
          try {
            for (const fd of readdirSync(`/proc/${pid}/fd`)) {
              if (readlinkSync(`/proc/${pid}/fd/${fd}`) === dbPath) {
                seen.add(pid);
                break;
              }
            }
          } catch {}
        }
        for (const pid of seen) {
          const c = (holders.get(pid) ?? 0) + 1;
          holders.set(pid, c);
          if (c === 2) longLivedHolders++;
        }
        for (const pid of holders.keys()) if (!seen.has(pid)) holders.delete(pid);
        await Bun.sleep(2_000);
      }
    };

    log(`soak: ${opts.seconds} s, 3 nodes × 4 slots, loops at 1 s, 4 client loops`);
    const t0 = Date.now();
    const loops = [
      cli("submit", submitArgs),
      cli("status", () => ["status", "--json"]),
      cli("tasks", () => ["tasks", "--json"]),
      cli("retry", retryArgs),
      sampleHolders(),
    ];
    while (Date.now() - t0 < opts.seconds * 1000) {
      await Bun.sleep(Math.min(5_000, opts.seconds * 1000 - (Date.now() - t0)));
      log(`  ${Math.round((Date.now() - t0) / 1000)} s: ${submitted} submitted, ${lockErrors} lock errors`);
    }
    stop = true;
    await Promise.all(loops);
    // Wind down: what was submitted finishes (dead ones stay dead now that nobody retries them).
    await waitFor(
      "every task final",
      () => n("SELECT COUNT(*) AS n FROM tasks WHERE status NOT IN ('succeeded','dead','cancelled')") === 0,
      { timeoutMs: 60_000, intervalMs: 250 },
    ).catch(() => {});

    const d = ro();
    const one = (sql: string) => (d.query(sql).get() as { n: number }).n;
    const executions = readFileSync(execLog, "utf8").trim().split("\n").filter(Boolean);
    const perRun = new Map<string, number>();
    for (const r of executions) perRun.set(r, (perRun.get(r) ?? 0) + 1);
    const result: SoakResult = {
      seconds: opts.seconds,
      submitted,
      succeeded: one("SELECT COUNT(*) AS n FROM tasks WHERE status = 'succeeded'"),
      dead: one("SELECT COUNT(*) AS n FROM tasks WHERE status = 'dead'"),
      unfinished: one("SELECT COUNT(*) AS n FROM tasks WHERE status NOT IN ('succeeded','dead','cancelled')"),
      runs: one("SELECT COUNT(*) AS n FROM runs"),
      duplicated:
        [...perRun.values()].filter((c) => c > 1).length +
        one(
          "SELECT COUNT(*) AS n FROM (SELECT task_id FROM runs WHERE state = 'succeeded' GROUP BY task_id HAVING COUNT(*) > 1)",
        ),
      lostRuns: one("SELECT COUNT(*) AS n FROM runs WHERE state = 'lost'"),
      lockErrors,
      clients,
      longLivedHolders,
      controllerErrors: [],
    };
    d.close();
    controller.kill("SIGTERM");
    await controller.exited;
    const text = ctlErr.join("");
    if (LOCK.test(text)) result.lockErrors += (text.match(new RegExp(LOCK.source, "gi")) ?? []).length;
    result.controllerErrors = text
      .split("\n")
      .filter((l) => /"level":"(error|fatal)"/.test(l))
      .slice(0, 10);
    // Every submitted task must be in the store: none lost on the way in.
    const stored = result.succeeded + result.dead + result.unfinished;
    if (stored !== submitted) result.unfinished += submitted - stored;
    return result;
  } finally {
    stop = true;
    if (controller && controller.exitCode === null) controller.kill("SIGKILL");
    for (const node of nodes) await node.destroy();
    dir.cleanup();
  }
}
