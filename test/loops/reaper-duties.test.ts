import { expect, test } from "bun:test";
import { configSchema } from "../../src/config/schema.ts";
import type { ControllerContext } from "../../src/loops/context.ts";
import { onMultipleOf } from "../../src/loops/cycles.ts";
import { createReaper } from "../../src/loops/reaper.ts";
import type { RunStatus } from "../../src/protocol/messages.ts";
import type { Transport } from "../../src/remote/transport.ts";
import { setNodeOnline } from "../../src/store/nodes.ts";
import { claimRun, finishRun } from "../../src/store/runs.ts";
import { addNode, addTask, memoryStore } from "../helpers/store.ts";

test("onMultipleOf counts like the seed's cycle_num % n == 0: n, 2n, … and never cycle 1", () => {
  const hits = (n: number) => Array.from({ length: 20 }, (_, i) => i + 1).filter((c) => onMultipleOf(c, n));
  expect(hits(10)).toEqual([10, 20]);
  expect(hits(5)).toEqual([5, 10, 15, 20]);
  expect(onMultipleOf(0, 5)).toBe(false);
});

test("the reaper sweeps orphans on cycles 10 and 20 and recovers offline nodes on 5, 10, 15, 20", async () => {
  const store = memoryStore();
  addNode(store, "up");
  addNode(store, "down");
  store.tx((db) => setNodeOnline(db, "down", false, "test: unreachable", 1_000));
  // A run that is over in the store but still alive on its node: an orphan, killed by each sweep.
  addTask(store, { id: "t" });
  const claim = store.tx((db) => claimRun(db, "t", "up", null, 1_000));
  if (!claim.ok) throw new Error(claim.reason);
  const runId = claim.run.run_id;
  store.tx((db) =>
    finishRun(
      db,
      runId,
      { state: "cancelled", reason: "cancelled" },
      { backoffMs: 0, maxBackoffMs: 0 },
      2_000,
    ),
  );
  const alive: RunStatus = {
    run_id: runId,
    task_id: "t",
    pid: 4242,
    wrapper_pid: 4241,
    state: "running",
    started_at: 1_000,
    heartbeat_at: 4_000,
    finished_at: null,
    exit_code: null,
    wrapper_version: "test",
  };
  let cycle = 0;
  const killedOn: number[] = [];
  const probedOn: number[] = [];
  const node = (name: string) =>
    ({
      node: name,
      list: async () => (name === "up" ? [alive] : []),
      kill: async () => {
        killedOn.push(cycle);
        return { signalled: true };
      },
    }) as unknown as Transport; // the sweep uses only list and kill
  const ctx: ControllerContext = {
    store,
    config: configSchema.parse({ nodes: [{ name: "up", transport: "local" }] }),
    transports: new Map([
      ["up", node("up")],
      ["down", node("down")],
    ]),
    now: () => 5_000,
    notify: () => {},
    launching: new Set(),
    wakeScheduler: () => {},
  };
  const reaper = createReaper(ctx, {
    probeNodes: async () => {
      probedOn.push(cycle);
    },
  });
  for (cycle = 1; cycle <= 20; cycle++) await reaper.tick(cycle);
  expect(killedOn).toEqual([10, 20]);
  expect(probedOn).toEqual([5, 10, 15, 20]);
});
