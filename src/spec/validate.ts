import type { SpecProblem, TaskSpec } from "./parse.ts";

/**
 * Batch rules, pure: everything that makes a batch unacceptable, all reported at once.
 * What the store knows comes in through small lookups so this runs without a database.
 */
export interface BatchContext {
  /** Which of these ids already exist in the store. */
  existing: (ids: string[]) => Set<string>;
  /** Dependencies of tasks already in the store (for cycles that pass through them). */
  storeDeps: (ids: string[]) => Map<string, string[]>;
  /** Configured executors and their argv templates. */
  executors: Record<string, { command: string[] }>;
  allowMissingDeps: boolean;
  /** `--replace`: stored ids may be given again, if their tasks are not running. */
  replace?: {
    rerunSucceeded: boolean;
    states: (ids: string[]) => Map<string, ReplaceableState>;
  };
}

/** A stored task as a replacement sees it. */
export interface ReplaceableState {
  status: string;
  active: { run_id: string; node: string; state: string } | null;
}

/**
 * Why a stored task cannot take new spec text, or null when it can. A task with a run still
 * on a node (launching, dispatched or running — also a cancelled task whose run is not yet
 * killed) is never replaced under it; a succeeded one only when asked to run again.
 */
export function replaceRefusal(id: string, s: ReplaceableState, rerunSucceeded: boolean): string | null {
  if (s.active)
    return `"${id}" is ${s.status} (run ${s.active.run_id} ${s.active.state} on node ${s.active.node}); it cannot be replaced while it runs: wait for it or \`oyster tasks cancel ${id}\` first`;
  if (s.status === "dispatched" || s.status === "running")
    return `"${id}" is ${s.status}; it cannot be replaced while it runs`;
  if (s.status === "succeeded" && !rerunSucceeded)
    return `"${id}" already succeeded; --rerun-succeeded replaces it and runs it again`;
  return null;
}

export function validateBatch(specs: TaskSpec[], ctx: BatchContext): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const byId = new Map<string, TaskSpec>();
  for (const s of specs) {
    const prev = byId.get(s.task_id);
    if (prev) {
      problems.push({
        source: s.source,
        field: "task_id",
        message: `duplicate id "${s.task_id}" (also in ${prev.source})`,
      });
      continue;
    }
    byId.set(s.task_id, s);
  }
  const inStore = ctx.existing([...byId.keys()]);
  if (ctx.replace) {
    const states = ctx.replace.states([...inStore]);
    for (const id of inStore) {
      const st = states.get(id);
      const why = st ? replaceRefusal(id, st, ctx.replace.rerunSucceeded) : null;
      if (why) problems.push({ source: byId.get(id)!.source, field: "task_id", message: why });
    }
  } else {
    for (const id of inStore) {
      problems.push({
        source: byId.get(id)!.source,
        field: "task_id",
        message: `"${id}" already exists in the store (--replace gives it this spec if it is not running)`,
      });
    }
  }
  const depIds = [...new Set(specs.flatMap((s) => s.depends_on))].filter((d) => !byId.has(d));
  const depsInStore = ctx.existing(depIds);
  for (const s of specs) {
    const ex = ctx.executors[s.executor];
    if (!ex) {
      const known = Object.keys(ctx.executors).sort().join(", ");
      problems.push({
        source: s.source,
        field: "executor",
        message: `unknown executor "${s.executor}" (configured: ${known})`,
      });
    } else if (s.command === null && ex.command.some((a) => a.includes("{command}"))) {
      problems.push({
        source: s.source,
        field: "command",
        message: `required by the "${s.executor}" executor`,
      });
    }
    for (const d of s.depends_on) {
      if (d === s.task_id) {
        problems.push({ source: s.source, field: "depends_on", message: `"${d}" depends on itself` });
      } else if (!byId.has(d) && !depsInStore.has(d) && !ctx.allowMissingDeps) {
        problems.push({
          source: s.source,
          field: "depends_on",
          message: `unknown dependency "${d}" (not in this batch nor in the store; --allow-missing-deps lets it wait)`,
        });
      }
    }
  }
  for (const cycle of findCycles(byId, ctx)) {
    const first = byId.get(cycle[0]!);
    problems.push({
      source: first?.source ?? "(store)",
      field: "depends_on",
      message: `dependency cycle: ${cycle.join(" -> ")} -> ${cycle[0]}`,
    });
  }
  return problems;
}

/** Iterative DFS (no recursion limit at 10k tasks); store tasks are expanded lazily. */
function findCycles(byId: Map<string, TaskSpec>, ctx: BatchContext): string[][] {
  const storeEdges = new Map<string, string[]>();
  const depsOf = (id: string): string[] => {
    const s = byId.get(id);
    if (s) return s.depends_on.filter((d) => d !== id);
    let e = storeEdges.get(id);
    if (!e) {
      e = ctx.storeDeps([id]).get(id) ?? [];
      storeEdges.set(id, e);
    }
    return e;
  };
  const WHITE = 0;
  const GREY = 1;
  const BLACK = 2;
  const color = new Map<string, number>();
  const cycles: string[][] = [];
  for (const start of byId.keys()) {
    if ((color.get(start) ?? WHITE) !== WHITE) continue;
    const stack: { id: string; next: number; deps: string[] }[] = [
      { id: start, next: 0, deps: depsOf(start) },
    ];
    color.set(start, GREY);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      if (top.next >= top.deps.length) {
        color.set(top.id, BLACK);
        stack.pop();
        continue;
      }
      const d = top.deps[top.next++]!;
      const c = color.get(d) ?? WHITE;
      if (c === GREY) {
        const from = stack.findIndex((f) => f.id === d);
        cycles.push(stack.slice(from).map((f) => f.id));
      } else if (c === WHITE) {
        // Only follow into the store when the store task could lead back into the batch.
        if (!byId.has(d) && depsOf(d).length === 0) {
          color.set(d, BLACK);
          continue;
        }
        color.set(d, GREY);
        stack.push({ id: d, next: 0, deps: depsOf(d) });
      }
    }
  }
  return cycles;
}

/** Dependencies before dependents (Kahn), for printing the plan; ties keep priority order. */
export function topoOrder(specs: TaskSpec[]): TaskSpec[] {
  const byId = new Map(specs.map((s) => [s.task_id, s]));
  const indeg = new Map<string, number>();
  const rev = new Map<string, string[]>();
  for (const s of specs) {
    const inBatch = s.depends_on.filter((d) => byId.has(d));
    indeg.set(s.task_id, inBatch.length);
    for (const d of inBatch) {
      // push, not spread: 5,000 tasks on one dependency made this quadratic.
      const dependents = rev.get(d);
      if (dependents) dependents.push(s.task_id);
      else rev.set(d, [s.task_id]);
    }
  }
  const queue = specs.filter((s) => indeg.get(s.task_id) === 0).sort((a, b) => a.priority - b.priority);
  const out: TaskSpec[] = [];
  for (let i = 0; i < queue.length; i++) {
    const s = queue[i]!;
    out.push(s);
    for (const r of rev.get(s.task_id) ?? []) {
      const n = (indeg.get(r) ?? 0) - 1;
      indeg.set(r, n);
      if (n === 0) queue.push(byId.get(r)!);
    }
  }
  return out;
}
