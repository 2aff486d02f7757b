import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join, resolve } from "node:path";
import type { Store } from "../store/db.ts";
import { recordEvent } from "../store/events.ts";
import { replaceTasks, storedTaskStates } from "../store/replace.ts";
import { existingTaskIds, insertTasks, taskDeps } from "../store/tasks.ts";
import { checkBatchLimits, type LimitProblem, SPEC_LIMITS, utf8Bytes } from "./limits.ts";
import { decodeSpec, parseSpecText, type SpecProblem, type TaskSpec } from "./parse.ts";
import { topoOrder, validateBatch } from "./validate.ts";

/**
 * The one intake used by `oyster submit`, `POST /api/tasks` and the factory inbox: parse,
 * validate the whole batch, then insert it in one transaction — all of it or none of it.
 */
export interface SpecInput {
  source: string;
  text: string;
}

export interface IntakeOptions {
  dryRun?: boolean;
  allowMissingDeps?: boolean;
  executors: Record<string, { command: string[] }>;
  defaultMaxAttempts: number;
  now?: number;
  /** Event source name (cli, api, factory). */
  origin?: string;
  /** Stored tasks that are not running take the new spec (`submit --replace`, src/store/replace.ts). */
  replace?: boolean;
  /** With `replace`: succeeded tasks too (they run again). */
  rerunSucceeded?: boolean;
}

export interface IntakeResult {
  ok: boolean;
  /** In dependency order. Empty when refused. */
  accepted: TaskSpec[];
  problems: SpecProblem[];
  /** Of `accepted`, the ids that replaced stored tasks (the rest are new). */
  replaced?: string[];
  /** Refused on size alone, before parsing (HTTP answers 413): the limits that were passed. */
  overLimit?: LimitProblem[];
}

/**
 * Parsing runs in slices of this many ms, with a turn of the event loop between them, so the
 * loops' timers and /health answer while a batch is parsed (a spec takes 0.05–0.5 ms).
 */
const PARSE_SLICE_MS = 5;
const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

export const SPEC_EXTENSIONS = [".md", ".txt"];

/** Files named directly are taken as they are; directories contribute their *.md / *.txt. */
export function collectSpecFiles(paths: string[]): { files: string[]; problems: SpecProblem[] } {
  const files: string[] = [];
  const problems: SpecProblem[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (SPEC_EXTENSIONS.includes(extname(e.name).toLowerCase())) files.push(p);
    }
  };
  for (const raw of paths) {
    const p = resolve(raw);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch {
      problems.push({ source: raw, message: "no such file or directory" });
      continue;
    }
    if (st.isDirectory()) {
      const before = files.length;
      try {
        walk(p);
      } catch (err) {
        problems.push({ source: raw, message: `cannot read directory: ${(err as Error).message}` });
      }
      if (files.length === before)
        problems.push({ source: raw, message: "directory holds no .md or .txt spec files" });
    } else files.push(p);
  }
  return { files, problems };
}

/**
 * Read spec files, refusing a batch over the limits by size (stat) before reading any of it.
 * A refused batch reads nothing; each over-large file is named.
 */
export function readSpecFiles(files: string[]): {
  inputs: SpecInput[];
  problems: SpecProblem[];
  overLimit?: LimitProblem[];
} {
  const inputs: SpecInput[] = [];
  const problems: SpecProblem[] = [];
  const sizes = files.map((f) => {
    try {
      return { source: f, bytes: statSync(f).size };
    } catch {
      return { source: f, bytes: 0 }; // reported by the read below
    }
  });
  const over = checkBatchLimits(sizes);
  if (over.length) return { inputs, problems: over.map(toProblem), overLimit: over };
  for (const f of files) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(f);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push({
        source: f,
        message:
          code === "EISDIR" ? "is a directory, expected a file" : `cannot read: ${(err as Error).message}`,
      });
      continue;
    }
    const d = decodeSpec(bytes, f);
    if ("problems" in d) problems.push(...d.problems);
    else inputs.push({ source: f, text: d.text });
  }
  return { inputs, problems };
}

const toProblem = (l: LimitProblem): SpecProblem => ({ source: l.source, message: l.message });

/**
 * The size limits of a batch given as text (the HTTP door): checked before parsing. A spec
 * may be refused here without being decoded, so its byte count is computed, not estimated.
 */
export function checkInputLimits(inputs: SpecInput[]): LimitProblem[] {
  // A batch past the count limit is refused without measuring every spec in it.
  if (inputs.length > SPEC_LIMITS.specsPerBatch)
    return checkBatchLimits(inputs.map((i) => ({ ...i, bytes: 0 })));
  return checkBatchLimits(inputs.map((i) => ({ source: i.source, bytes: utf8Bytes(i.text) })));
}

/** Parse every spec, yielding to the event loop between chunks so no batch stalls the loops. */
async function parseAll(inputs: SpecInput[]): Promise<{ specs: TaskSpec[]; problems: SpecProblem[] }> {
  const specs: TaskSpec[] = [];
  const problems: SpecProblem[] = [];
  let slice = performance.now();
  for (const i of inputs) {
    if (performance.now() - slice >= PARSE_SLICE_MS) {
      await yieldToLoop();
      slice = performance.now();
    }
    const r = parseSpecText(i.text, i.source);
    if ("problems" in r) problems.push(...r.problems);
    else specs.push(r.spec);
  }
  return { specs, problems };
}

/** Intakes committed by this process: one may have landed while another was yielding. */
let committed = 0;

/**
 * What the batch checks read can only change through another intake: in this process (the
 * counter) or another one (SQLite's data_version moves when another connection commits).
 */
function storeVersion(store: Store): string {
  const v = store.db.query("PRAGMA data_version").get() as { data_version: number };
  return `${v.data_version}/${committed}`;
}

export async function intake(store: Store, inputs: SpecInput[], opts: IntakeOptions): Promise<IntakeResult> {
  const over = checkInputLimits(inputs);
  if (over.length) return { ok: false, accepted: [], problems: over.map(toProblem), overLimit: over };
  const { specs, problems } = await parseAll(inputs);
  const version = storeVersion(store);
  if (inputs.length === 0) problems.push({ source: "(batch)", message: "no specs given" });
  const check = () =>
    validateBatch(specs, {
      existing: (ids) => existingTaskIds(store.db, ids),
      storeDeps: (ids) => taskDeps(store.db, ids),
      executors: opts.executors,
      allowMissingDeps: Boolean(opts.allowMissingDeps),
      ...(opts.replace
        ? {
            replace: {
              rerunSucceeded: Boolean(opts.rerunSucceeded),
              states: (ids: string[]) => storedTaskStates(store.db, ids),
            },
          }
        : {}),
    });
  await yieldToLoop();
  problems.push(...check());
  if (problems.length) return { ok: false, accepted: [], problems };
  await yieldToLoop();
  const ordered = topoOrder(specs);
  const existingNow = (): Set<string> =>
    opts.replace
      ? existingTaskIds(
          store.db,
          ordered.map((s) => s.task_id),
        )
      : new Set<string>();
  if (opts.dryRun) return { ok: true, accepted: ordered, problems: [], replaced: [...existingNow()] };
  await yieldToLoop();
  const now = opts.now ?? Date.now();
  // Validate again under the write lock if another intake may have committed meanwhile; the
  // transaction is then only the insert, so it blocks the loops as briefly as it can.
  const replaced = new Set<string>();
  const late = store.tx((db) => {
    const again = storeVersion(store) === version ? [] : check();
    if (again.length) return again;
    committed++;
    // Checked above under this same write lock: every stored id here is replaceable.
    for (const id of existingNow()) replaced.add(id);
    insertTasks(
      db,
      ordered.filter((s) => !replaced.has(s.task_id)),
      opts.defaultMaxAttempts,
      now,
    );
    if (replaced.size)
      replaceTasks(
        db,
        ordered.filter((s) => replaced.has(s.task_id)),
        opts.defaultMaxAttempts,
        now,
        opts.origin ?? "cli",
      );
    recordEvent(
      db,
      {
        kind: "tasks_submitted",
        source: opts.origin ?? "cli",
        data: { count: ordered.length, ...(replaced.size ? { replaced: replaced.size } : {}) },
      },
      now,
    );
    return [];
  });
  if (late.length) return { ok: false, accepted: [], problems: late };
  return { ok: true, accepted: ordered, problems: [], replaced: [...replaced] };
}

export function formatProblem(p: SpecProblem): string {
  return `${p.source}: ${p.field ? `${p.field}: ` : ""}${p.message}`;
}
