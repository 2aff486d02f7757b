import { existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import type { Config } from "../config/schema.ts";
import { logger } from "../log.ts";
import { placeholderEnv, substitute } from "../node/template.ts";
import { readText, spawnChild } from "../os/spawn.ts";
import { formatProblem, intake, readSpecFiles, SPEC_EXTENSIONS } from "../spec/intake.ts";
import { SPEC_LIMITS } from "../spec/limits.ts";
import type { SpecProblem } from "../spec/parse.ts";
import type { Store } from "../store/db.ts";
import { recordEvent } from "../store/events.ts";
import { newlyCompletedProjects, pendingCount } from "../store/healing.ts";

const log = logger("factory");

/** A file this young may still be being written by a generator; it is taken next cycle. */
export const SETTLE_MS = 300;

/** What the factory uses: the store and the config of intake and hooks, the clock, whom to tell. */
export interface FactoryDeps {
  store: Store;
  config: Pick<Config, "factory" | "executors" | "retry">;
  now: () => number;
  notify: (payload: Record<string, unknown>) => void;
  wakeScheduler: () => void;
}

export interface InboxResult {
  accepted: string[];
  refused: { file: string; problems: SpecProblem[] }[];
}

/**
 * Take in the inbox with the rules of `oyster submit`. The batch is tried whole; the files named
 * by problems are refused and the rest is tried again, so one broken file does not hold back
 * the others, and specs that depend on each other across files still go in together.
 */
export async function processInbox(
  ctx: Pick<FactoryDeps, "store" | "config">,
  inbox: string,
  now: number,
): Promise<InboxResult> {
  const result: InboxResult = { accepted: [], refused: [] };
  if (!existsSync(inbox)) mkdirSync(inbox, { recursive: true });
  const settled = readdirSync(inbox, { withFileTypes: true })
    .filter(
      (e) => e.isFile() && !e.name.startsWith(".") && SPEC_EXTENSIONS.includes(extname(e.name).toLowerCase()),
    )
    .map((e) => join(inbox, e.name))
    .map((f) => ({ f, st: statSync(f) }))
    .filter(({ st }) => now - st.mtimeMs >= SETTLE_MS)
    .sort((a, b) => (a.f < b.f ? -1 : a.f > b.f ? 1 : 0));
  // At most one batch's worth per tick (by count and bytes); the rest waits for the next tick
  // instead of the whole inbox being refused as over the limit.
  let bytes = 0;
  let files = settled
    .filter(({ st }, i) => {
      bytes += st.size;
      return i === 0 || (i < SPEC_LIMITS.specsPerBatch && bytes <= SPEC_LIMITS.batchBytes);
    })
    .map(({ f }) => f);
  while (files.length) {
    const read = readSpecFiles(files);
    const r = read.problems.length
      ? { ok: false, problems: read.problems, accepted: [] }
      : await intake(ctx.store, read.inputs, {
          executors: ctx.config.executors,
          defaultMaxAttempts: ctx.config.retry.max_attempts,
          origin: "factory",
          now,
        });
    if (r.ok) {
      for (const f of files) move(f, join(inbox, "processed"));
      result.accepted.push(...files);
      break;
    }
    const byFile = new Map<string, SpecProblem[]>();
    for (const p of r.problems) {
      const f = files.find((x) => x === p.source || resolve(x) === resolve(p.source));
      if (f) byFile.set(f, [...(byFile.get(f) ?? []), p]);
    }
    // Problems that name no file (a cycle through the store): nothing can be separated, refuse all.
    const refuse = byFile.size ? [...byFile.keys()] : files;
    for (const f of refuse) {
      const problems = byFile.get(f) ?? r.problems;
      const dest = move(f, join(inbox, "failed"));
      writeFileSync(`${dest}.error`, `${problems.map(formatProblem).join("\n")}\n`);
      result.refused.push({ file: f, problems });
    }
    files = files.filter((f) => !refuse.includes(f));
  }
  return result;
}

function move(file: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  let dest = join(dir, basename(file));
  if (existsSync(dest)) dest = join(dir, `${Date.now()}-${basename(file)}`);
  renameSync(file, dest);
  return dest;
}

/**
 * Run a configured hook command (argv, no shell; config load refuses placeholders inside `sh -c`
 * scripts) in the background with a timeout; its output
 * goes to the log. Resolves when it ends; never rejects.
 */
export async function runHook(
  what: string,
  argv: string[],
  vars: Record<string, string>,
  timeoutMs: number,
): Promise<number | null> {
  const cmd = substitute(argv, vars);
  try {
    const p = await spawnChild(cmd, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...placeholderEnv(vars) },
      timeoutMs,
    });
    const [out, err] = await Promise.all([readText(p.stdout), readText(p.stderr)]);
    const { code, signal } = await p.exited;
    const tail = `${out}${err}`.trim().split("\n").slice(-5).join(" | ");
    if (signal) log.warn(`${what} (${cmd[0]}) was stopped after ${timeoutMs} ms${tail ? `: ${tail}` : ""}`);
    else if (code !== 0) log.warn(`${what} (${cmd[0]}) exited ${code}${tail ? `: ${tail}` : ""}`);
    else log.debug(`${what} (${cmd[0]}) done${tail ? `: ${tail}` : ""}`);
    return code;
  } catch (err) {
    log.warn(`${what}: cannot run ${cmd[0]}: ${(err as Error).message}`);
    return null;
  }
}

/**
 * The factory: the inbox, and the hooks around intake — generate when work runs low, announce
 * finished projects, research at most every research_interval. Hooks run in the background so
 * a slow generator never stalls the loop's heartbeat; one of each at a time.
 */
/** A clock that goes back by more than this was stepped, not slewed. */
const CLOCK_STEP_MS = 60_000;

export function createFactory(ctx: FactoryDeps) {
  const cfg = ctx.config.factory;
  const inbox = resolve(cfg.inbox);
  const busy = new Set<string>();
  let lastResearch = 0;

  function background(
    key: string,
    what: string,
    argv: string[],
    vars: Record<string, string>,
    timeoutMs: number,
  ): boolean {
    if (busy.has(key)) return false;
    busy.add(key);
    void runHook(what, argv, vars, timeoutMs).finally(() => busy.delete(key));
    return true;
  }

  return {
    async tick(): Promise<void> {
      const now = ctx.now();
      const r = await processInbox(ctx, inbox, now);
      if (r.accepted.length) {
        log.info(`took in ${r.accepted.length} spec file(s) from ${inbox}`);
        ctx.wakeScheduler();
      }
      for (const f of r.refused) {
        log.warn(`refused ${basename(f.file)}: ${f.problems.map(formatProblem).join("; ")}`);
      }
      if (r.refused.length) {
        ctx.store.tx((db) =>
          recordEvent(
            db,
            {
              kind: "inbox_refused",
              source: "factory",
              data: { files: r.refused.map((f) => basename(f.file)) },
            },
            now,
          ),
        );
      }

      const pending = ctx.store.tx((db) => pendingCount(db));
      if (cfg.generate.length && pending < cfg.min_pending) {
        background(
          "generate",
          "factory.generate",
          cfg.generate,
          { inbox, pending: String(pending) },
          cfg.generate_timeout,
        );
      }

      const done = ctx.store.tx((db) => newlyCompletedProjects(db, now));
      for (const p of done) {
        log.info(`project ${p.project} is complete (${p.tasks} tasks succeeded)`, { project: p.project });
        ctx.notify({ kind: "project_complete", project: p.project, tasks: p.tasks });
        if (cfg.on_project_complete.length)
          background(
            `complete:${p.project}`,
            "factory.on_project_complete",
            cfg.on_project_complete,
            { project: p.project, inbox },
            cfg.generate_timeout,
          );
      }

      // The interval counts from a research that started (a tick that found the last one still
      // running does not reset it), and a clock stepped back (by more than a slew) does not
      // hold research off until it catches up.
      const due = now - lastResearch >= cfg.research_interval || now < lastResearch - CLOCK_STEP_MS;
      if (
        cfg.research.length &&
        due &&
        background("research", "factory.research", cfg.research, { inbox }, cfg.generate_timeout)
      )
        lastResearch = now;
    },
  };
}
