import { describe, expect, test } from "bun:test";
import { prunableRuns } from "../../src/store/retention.ts";
import { addTask, memoryStore } from "../helpers/store.ts";

function seed() {
  const store = memoryStore();
  addTask(store, { id: "t" });
  store.tx((db) => {
    const ins = db.query(
      "INSERT INTO runs (run_id, task_id, node, attempt, state, created_at, finished_at) VALUES (?, 't', ?, ?, ?, ?, ?)",
    );
    // n1: r1..r5 finished at 1..5 s, plus one running; n2: one old finished run.
    for (let i = 1; i <= 5; i++)
      ins.run(`r${i}`, "n1", i, i % 2 ? "succeeded" : "failed", i * 1_000, i * 1_000);
    ins.run("live", "n1", 6, "running", 500, null);
    ins.run("x1", "n2", 7, "lost", 100, 100);
  });
  return store;
}

const ids = (rows: { run_id: string }[]) => rows.map((r) => r.run_id);

describe("prunableRuns", () => {
  test("beyond the newest `keep` finished runs of the node, oldest first; never a running one", () => {
    const store = seed();
    const rows = store.read((db) => prunableRuns(db, "n1", { olderThanMs: 0, keep: 2 }, 10_000, -1, 100));
    expect(ids(rows)).toEqual(["r1", "r2", "r3"]);
  });

  test("older than `olderThanMs` OR beyond `keep`", () => {
    const store = seed();
    const p = { olderThanMs: 7_500, keep: 4 };
    expect(ids(store.read((db) => prunableRuns(db, "n1", p, 10_000, -1, 100)))).toEqual(["r1", "r2"]);
  });

  test("the watermark and the limit page through them", () => {
    const store = seed();
    const p = { olderThanMs: 1, keep: 0 };
    const first = store.read((db) => prunableRuns(db, "n1", p, 10_000, -1, 2));
    expect(ids(first)).toEqual(["r1", "r2"]);
    expect(ids(store.read((db) => prunableRuns(db, "n1", p, 10_000, first.at(-1)!.key, 10)))).toEqual([
      "r3",
      "r4",
      "r5",
    ]);
  });

  test("no limits, or fewer finished runs than `keep`: nothing", () => {
    const store = seed();
    expect(store.read((db) => prunableRuns(db, "n1", { olderThanMs: 0, keep: 0 }, 10_000, -1, 100))).toEqual(
      [],
    );
    expect(store.read((db) => prunableRuns(db, "n2", { olderThanMs: 0, keep: 5 }, 10_000, -1, 100))).toEqual(
      [],
    );
  });
});
