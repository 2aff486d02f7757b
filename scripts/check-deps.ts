#!/usr/bin/env bun
/**
 * `npm test` fails when an import in src/ points up the ranks below or closes a cycle.
 *   bun scripts/check-deps.ts
 *
 * A small script rather than dependency-cruiser or madge: the ranks are one table beside the
 * check, TypeScript's own `preProcessFile` (already a dev dependency) reads every static, type
 * and dynamic import, and the whole graph is checked in well under a second with nothing new
 * to install or keep up to date. docs/ARCHITECTURE.md ("Ranks") explains the table.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { Glob } from "bun";
import ts from "typescript";

/**
 * Higher ranks may import lower ones, never the reverse; two units of the same rank may not
 * import each other. A unit is a folder (`src/x/`) or a file; the longest prefix wins, so a file
 * can sit apart from its folder (intake orchestrates the store; the rest of spec/ is pure).
 */
export const RANKS: Record<string, number> = {
  "src/terminal-safe.ts": 0,
  "src/did-you-mean.ts": 0,
  "src/version.ts": 0,
  "src/metrics.ts": 0,
  "src/os/": 0,
  "src/log.ts": 1,
  "src/notify.ts": 2,
  "src/config/": 3,
  "src/dispatch/": 3,
  "src/protocol/": 3,
  "src/node/": 4,
  "src/spec/": 4,
  "src/store/": 5,
  "src/remote/": 5,
  "src/output/": 6,
  "src/spec/intake.ts": 6,
  "src/loops/": 7,
  "src/server/": 8,
  "src/supervisor/": 9,
  "src/controller.ts": 10,
  "src/run-until-done.ts": 11,
  "src/cli/": 12,
};

export type Graph = Map<string, string[]>;

export function unitOf(file: string, ranks: Record<string, number> = RANKS): string | undefined {
  let best: string | undefined;
  for (const unit of Object.keys(ranks)) {
    const hit = unit.endsWith("/") ? file.startsWith(unit) : file === unit;
    if (hit && (!best || unit.length > best.length)) best = unit;
  }
  return best;
}

/** Every problem in the graph: files outside the table, back edges, and file-level cycles. */
export function checkGraph(graph: Graph, ranks: Record<string, number> = RANKS): string[] {
  const problems: string[] = [];
  for (const [from, targets] of graph) {
    const a = unitOf(from, ranks);
    if (!a) {
      problems.push(`${from}: not in the rank table of scripts/check-deps.ts (add its folder or file)`);
      continue;
    }
    for (const to of targets) {
      const b = unitOf(to, ranks);
      if (!b || a === b) continue;
      const ra = ranks[a]!;
      const rb = ranks[b]!;
      if (rb >= ra) {
        problems.push(
          `back edge: ${from} (${a}, rank ${ra}) imports ${to} (${b}, rank ${rb}); ` +
            "a module may import only lower ranks",
        );
      }
    }
  }
  for (const cycle of findCycles(graph)) problems.push(`import cycle: ${cycle.join(" → ")}`);
  return problems;
}

/** One cycle per strongly connected component (Tarjan, iterative), each closed on its first file. */
export function findCycles(graph: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let next = 0;
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: { node: string; i: number }[] = [{ node: root, i: 0 }];
    index.set(root, next);
    low.set(root, next++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const top = work[work.length - 1]!;
      const edges = graph.get(top.node) ?? [];
      if (top.i < edges.length) {
        const to = edges[top.i++]!;
        if (!graph.has(to)) continue;
        if (!index.has(to)) {
          index.set(to, next);
          low.set(to, next++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, i: 0 });
        } else if (onStack.has(to)) {
          low.set(top.node, Math.min(low.get(top.node)!, index.get(to)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(top.node)!));
      if (low.get(top.node) !== index.get(top.node)) continue;
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== top.node);
      const selfLoop = (graph.get(top.node) ?? []).includes(top.node);
      if (component.length > 1 || selfLoop) cycles.push(cyclePath(graph, new Set(component), top.node));
    }
  }
  return cycles;
}

/** A concrete path around the component, for a message a reader can follow file by file. */
function cyclePath(graph: Graph, component: Set<string>, start: string): string[] {
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift()!;
    for (const to of graph.get(node) ?? []) {
      if (!component.has(to)) continue;
      if (to === start) {
        const path = [start];
        for (let at = node; at !== start; at = prev.get(at)!) path.splice(1, 0, at);
        return [...path, start];
      }
      if (!prev.has(to)) {
        prev.set(to, node);
        queue.push(to);
      }
    }
  }
  return [start, start];
}

/** src/**\/*.ts → the src files each one imports (relative imports only: packages have no rank). */
export function readGraph(root = "src"): Graph {
  const graph: Graph = new Map();
  for (const file of new Glob(`${root}/**/*.ts`).scanSync(".")) {
    const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    const targets = info.importedFiles
      .map((i) => i.fileName)
      .filter((name) => name.startsWith("."))
      .map((name) => path.normalize(path.join(path.dirname(file), name)));
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

if (import.meta.main) {
  const graph = readGraph();
  const problems = checkGraph(graph);
  for (const p of problems) console.error(p);
  if (problems.length > 0) {
    console.error(`check-deps: ${problems.length} problem(s) in ${graph.size} files`);
    process.exit(1);
  }
  console.error(`check-deps: ${graph.size} files, no back edge, no cycle`);
}
