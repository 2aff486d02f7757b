import type { DecisionInput, NodeView, ReadyTask } from "../../src/dispatch/placement.ts";

/** The clock of every decision fixture. */
export const NOW = 1_700_000_000_000;

/** An online, idle node with 2 slots and light load; `over` sets what a test is about. */
export const nodeView = (name: string, over: Partial<NodeView> = {}): NodeView => ({
  name,
  slots: 2,
  running: 0,
  online: true,
  draining: false,
  executors: null,
  resources: { load1: 0.5, load5: 0.5, load15: 0.5, mem_avail_mb: 8000, swap_pct: 0 },
  ...over,
});

/**
 * One scheduler decision's input where nothing holds work back: `ready` on two idle nodes n1
 * and n2, no locks, leases or breakers, no dispatch history; `over` sets what a test is about.
 */
export const decisionInput = (ready: ReadyTask[], over: Partial<DecisionInput> = {}): DecisionInput => ({
  now: NOW,
  ready,
  lockedPaths: new Set(),
  leased: new Set(),
  nodes: [nodeView("n1"), nodeView("n2")],
  breakers: new Map(),
  breakerPolicy: { failures: 3, openForMs: 300_000 },
  drain: false,
  pause: false,
  stats: { total: 0, success: 0, failed: 0, rate: null, failure_reasons: {} },
  minSuccessRate: 0.3,
  minSamples: 10,
  thresholds: { max_load: 8, min_mem_mb: 512, max_swap_pct: 50 },
  maxLaunches: 64,
  ...over,
});
