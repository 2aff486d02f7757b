import { describe, expect, test } from "bun:test";
import { createReaper } from "../../src/loops/reaper.ts";
import type { KillReport, PruneRequest, RunStatus } from "../../src/protocol/messages.ts";
import type { Transport } from "../../src/remote/transport.ts";
import type { Store } from "../../src/store/db.ts";
import { setNodeOnline } from "../../src/store/nodes.ts";
import { claimRun, finishRun, markRunning } from "../../src/store/runs.ts";
import { addNode, addTask, taskStatus } from "../helpers/store.ts";
import { eventKinds, fakeTransport, loopWorld, runRow, runStatus } from "./fakes.ts";

/** Claim a run of a new task `id` on `node` at `now`; `pid` also marks it running. */
function launch(
  store: Store,
  id: string,
  node: string,
  now: number,
  o: { timeoutMs?: number; pid?: number } = {},
) {
  addTask(store, { id });
  const c = store.tx((db) => claimRun(db, id, node, o.timeoutMs ?? null, now));
  if (!c.ok) throw new Error(c.reason);
  if (o.pid !== undefined)
    store.tx((db) => markRunning(db, c.run.run_id, { pid: o.pid!, started_at: now, heartbeat_at: now }, now));
  return c.run.run_id;
}

/** A node whose `list` answers `listed` and records every kill and kill-group. */
function node(name: string, listed: RunStatus[], extra: Partial<Transport> = {}) {
  const killed: string[] = [];
  const groups: string[] = [];
  const abandoned: string[] = [];
  const t = fakeTransport(name, {
    list: async () => listed,
    abandon: async (id) => {
      abandoned.push(id);
      return { abandoned: true, status: null, note: "abandoned" };
    },
    kill: async (id): Promise<KillReport> => {
      killed.push(id);
      return { signalled: true };
    },
    killGroup: async (id) => {
      groups.push(id);
      return { gone: true, note: "none left" };
    },
    ...extra,
  });
  return { t, killed, groups, abandoned, listed };
}

function world(nodes: Transport[], config: Record<string, unknown> = {}) {
  const w = loopWorld(nodes, config);
  for (const t of nodes) addNode(w.store, t.node);
  const probed: string[][] = [];
  const reaper = createReaper(w.ctx, { probeNodes: async (names) => void probed.push(names) });
  return { ...w, reaper, probed };
}

describe("reaper tick", () => {
  test("a run the node does not know, past command_timeout, is a ghost: lost, task pending again", async () => {
    const n = node("n1", []);
    const w = world([n.t]);
    const id = launch(w.store, "t", "n1", w.clock.t);
    await w.reaper.tick(1); // younger than command_timeout: its start may still be in flight
    expect(runRow(w.store, id).state).toBe("launching");
    w.clock.t += 31_000;
    await w.reaper.tick(2);
    expect(runRow(w.store, id)).toEqual({ state: "lost", reason: "lost" });
    expect(taskStatus(w.store, "t").status).toBe("pending");
    expect(eventKinds(w.store, "reaper")).toEqual(["run_ghost"]);
    expect(w.wakes.n).toBeGreaterThan(0);
    // Fenced off on the node first, so a start of it still on the way cannot run it later.
    expect(n.abandoned).toEqual([id]);
  });

  test("a ghost the node cannot fence off keeps its task until it can", async () => {
    let fence: "fails" | "works" = "fails";
    const n = node("n1", [], {
      abandon: async () => {
        if (fence === "fails") throw new Error("No space left on device");
        return { abandoned: true, status: null, note: "abandoned" };
      },
    });
    const w = world([n.t]);
    const id = launch(w.store, "t", "n1", w.clock.t);
    w.clock.t += 31_000;
    await w.reaper.tick(1);
    expect(runRow(w.store, id).state).toBe("launching");
    expect(taskStatus(w.store, "t").status).toBe("dispatched");
    fence = "works";
    await w.reaper.tick(2);
    expect(runRow(w.store, id)).toEqual({ state: "lost", reason: "lost" });
    expect(taskStatus(w.store, "t").status).toBe("pending");
  });

  test("a ghost that turns up when it is fenced off is not lost", async () => {
    const listed: RunStatus[] = [];
    const n = node("n1", listed, {
      abandon: async (id) => ({
        abandoned: false,
        status: runStatus(id, "t", "starting"),
        note: "exists on this node",
      }),
    });
    const w = world([n.t]);
    const id = launch(w.store, "t", "n1", w.clock.t);
    w.clock.t += 31_000;
    await w.reaper.tick(1);
    expect(runRow(w.store, id).state).toBe("launching");
    listed.push(runStatus(id, "t", "running"));
    await w.reaper.tick(2);
    expect(runRow(w.store, id).state).toBe("running");
    expect(taskStatus(w.store, "t").status).toBe("running");
  });

  test("a node binary without abandon: the ghost is lost as before", async () => {
    const n = node("n1", [], {
      abandon: async () => {
        throw new Error('unknown op "abandon"');
      },
    });
    const w = world([n.t]);
    const id = launch(w.store, "t", "n1", w.clock.t);
    w.clock.t += 31_000;
    await w.reaper.tick(1);
    expect(runRow(w.store, id)).toEqual({ state: "lost", reason: "lost" });
  });

  test("a run this process is still launching is not a ghost", async () => {
    const w = world([node("n1", []).t]);
    const id = launch(w.store, "t", "n1", w.clock.t);
    w.ctx.launching.add(id);
    w.clock.t += 60_000;
    await w.reaper.tick(1);
    expect(runRow(w.store, id).state).toBe("launching");
  });

  test("a ghost whose process group is still there keeps its task and locks", async () => {
    const n = node("n1", [], { killGroup: async () => ({ gone: false, note: "pid 4242 lives" }) });
    const w = world([n.t]);
    const id = launch(w.store, "t", "n1", w.clock.t, { pid: 4242 });
    w.clock.t += 60_000;
    await w.reaper.tick(1);
    expect(runRow(w.store, id).state).toBe("running");
    expect(taskStatus(w.store, "t").status).toBe("running");
  });

  test("a run past its timeout fails with reason timeout and is killed on the node", async () => {
    const listed: RunStatus[] = [];
    const n = node("n1", listed);
    const w = world([n.t]);
    const id = launch(w.store, "t", "n1", w.clock.t, { timeoutMs: 1_000, pid: 4242 });
    listed.push(runStatus(id, "t", "running", { elapsed_ms: 5_000 }));
    await w.reaper.tick(1);
    expect(runRow(w.store, id)).toEqual({ state: "failed", reason: "timeout" });
    expect(n.killed).toEqual([id]);
    expect(eventKinds(w.store, "reaper")).toEqual(["run_timeout"]);
  });

  test("a run within its timeout is left running", async () => {
    const listed: RunStatus[] = [];
    const n = node("n1", listed);
    const w = world([n.t]);
    const id = launch(w.store, "t", "n1", w.clock.t, { timeoutMs: 10_000, pid: 4242 });
    listed.push(runStatus(id, "t", "running", { elapsed_ms: 5_000 }));
    await w.reaper.tick(1);
    expect(runRow(w.store, id).state).toBe("running");
    expect(n.killed).toEqual([]);
  });

  test("an end the push never delivered is recorded from the list", async () => {
    const listed: RunStatus[] = [];
    const w = world([node("n1", listed).t]);
    const id = launch(w.store, "t", "n1", w.clock.t, { pid: 4242 });
    listed.push(runStatus(id, "t", "succeeded"));
    await w.reaper.tick(1);
    expect(runRow(w.store, id).state).toBe("succeeded");
    expect(taskStatus(w.store, "t").status).toBe("succeeded");
  });

  test("a lost run is released only once its group is confirmed killed", async () => {
    const listed: RunStatus[] = [];
    let gone = false;
    const n = node("n1", listed, {
      killGroup: async () => ({ gone, note: gone ? "none left" : "pid lives" }),
    });
    const w = world([n.t]);
    const id = launch(w.store, "t", "n1", w.clock.t, { pid: 4242 });
    listed.push(runStatus(id, "t", "lost"));
    await w.reaper.tick(1);
    expect(n.killed).toEqual([id]); // killed first …
    expect(runRow(w.store, id).state).toBe("running"); // … but not confirmed: task and locks held
    expect(taskStatus(w.store, "t").status).toBe("running");
    gone = true;
    await w.reaper.tick(2);
    expect(runRow(w.store, id)).toEqual({ state: "lost", reason: "lost" });
    expect(taskStatus(w.store, "t").status).toBe("pending");
    expect(eventKinds(w.store, "reaper")).toEqual(["lost_run_killed"]);
  });

  test("the run of a cancelled task is ended cancelled and killed", async () => {
    const listed: RunStatus[] = [];
    const n = node("n1", listed);
    const w = world([n.t]);
    const id = launch(w.store, "t", "n1", w.clock.t, { pid: 4242 });
    listed.push(runStatus(id, "t", "running"));
    w.store.db.query("UPDATE tasks SET cancel_requested_at = ? WHERE task_id = 't'").run(w.clock.t);
    await w.reaper.tick(1);
    expect(runRow(w.store, id).state).toBe("cancelled");
    expect(n.killed).toEqual([id]);
    expect(eventKinds(w.store, "reaper")).toEqual(["run_cancelled"]);
  });

  test("a cancelled run the node does not show is fenced off before it counts as stopped", async () => {
    let fence: "fails" | "works" = "fails";
    const abandoned: string[] = [];
    const n = node("n1", [], {
      abandon: async (id) => {
        if (fence === "fails") throw new Error("command timed out");
        abandoned.push(id);
        return { abandoned: true, status: null, note: "abandoned" };
      },
    });
    const w = world([n.t]);
    const id = launch(w.store, "t", "n1", w.clock.t);
    w.store.db.query("UPDATE tasks SET cancel_requested_at = ? WHERE task_id = 't'").run(w.clock.t);
    await w.reaper.tick(1);
    expect(runRow(w.store, id).state).toBe("launching");
    fence = "works";
    await w.reaper.tick(2);
    expect(abandoned).toEqual([id]);
    expect(runRow(w.store, id).state).toBe("cancelled");
    expect(eventKinds(w.store, "reaper")).toEqual(["run_cancelled"]);
  });

  test("a node that cannot be listed goes offline and its runs stay as they are", async () => {
    const n = node("n1", [], { list: () => Promise.reject(new Error("connection refused")) });
    const w = world([n.t]);
    const id = launch(w.store, "t", "n1", w.clock.t, { pid: 4242 });
    w.clock.t += 60_000;
    await w.reaper.tick(1);
    expect(runRow(w.store, id).state).toBe("running");
    const row = w.store.db.query("SELECT online FROM nodes WHERE name = 'n1'").get() as { online: number };
    expect(row.online).toBe(0);
  });

  test("runs on a node silent past retry.lost_node_grace are lost by policy", async () => {
    const w = world([node("n1", []).t], { retry: { lost_node_grace: "1m" } });
    const id = launch(w.store, "t", "n1", w.clock.t, { pid: 4242 });
    w.store.tx((db) => setNodeOnline(db, "n1", false, "test: silent", w.clock.t));
    w.clock.t += 30_000;
    await w.reaper.tick(1);
    expect(runRow(w.store, id).state).toBe("running");
    w.clock.t += 60_000;
    await w.reaper.tick(2);
    expect(runRow(w.store, id)).toEqual({ state: "lost", reason: "lost" });
    expect(eventKinds(w.store, "reaper")).toEqual(["run_node_dead"]);
  });

  test("failed tasks past their backoff are pending again; stale leases go; running counts are recomputed", async () => {
    const w = world([node("n1", []).t]);
    const id = launch(w.store, "t", "n1", w.clock.t, { pid: 4242 });
    w.store.tx((db) =>
      finishRun(
        db,
        id,
        { state: "failed", reason: "exit_nonzero", exit_code: 1 },
        { backoffMs: 1_000, maxBackoffMs: 1_000 },
        w.clock.t,
      ),
    );
    // A lease and a running count the store was left with (a crash between two writes).
    w.store.db
      .query("INSERT INTO leases (task_id, run_id, node, acquired_at) VALUES ('t', ?, 'n1', 1)")
      .run(id);
    w.store.db.query("UPDATE nodes SET running = 3 WHERE name = 'n1'").run();
    w.clock.t += 5_000;
    await w.reaper.tick(1);
    expect(taskStatus(w.store, "t").status).toBe("pending");
    expect(w.store.db.query("SELECT COUNT(*) AS n FROM leases").get()).toEqual({ n: 0 });
    expect(w.store.db.query("SELECT running FROM nodes WHERE name = 'n1'").get()).toEqual({ running: 0 });
  });

  test("retention names the node's final runs once per retention.interval and records runs_pruned", async () => {
    const asked: PruneRequest[] = [];
    const n = node("n1", [], {
      prune: async (req) => {
        asked.push(req);
        return { removed: req.runs, kept: [], missing: 0 };
      },
    });
    const w = world([n.t], { retention: { runs: "1s", max_runs_per_node: 0, interval: "1h" } });
    const id = launch(w.store, "t", "n1", w.clock.t, { pid: 4242 });
    w.store.tx((db) =>
      finishRun(db, id, { state: "succeeded", exit_code: 0 }, { backoffMs: 0, maxBackoffMs: 0 }, w.clock.t),
    );
    w.clock.t += 10_000;
    await w.reaper.tick(1);
    expect(asked).toEqual([{ runs: [id] }]);
    expect(eventKinds(w.store, "reaper")).toEqual(["runs_pruned"]);
    w.clock.t += 60_000;
    await w.reaper.tick(2); // within the interval: not asked again
    expect(asked.length).toBe(1);
  });
});
