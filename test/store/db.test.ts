import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { openStore, StoreError } from "../../src/store/db.ts";
import { storeFault } from "../../src/store/fault.ts";
import { configuredNodes } from "../../src/store/nodes.ts";
import { tempDir } from "../helpers/cli.ts";

const dir = tempDir("oyster-store-unit-");
afterAll(() => dir.cleanup());

test("SQLITE_FULL and SQLITE_IOERR_* are disk conditions; other errors are not", () => {
  expect(storeFault({ code: "SQLITE_FULL" })).toBe("disk_full");
  expect(storeFault({ code: "SQLITE_IOERR_WRITE" })).toBe("io_error");
  expect(storeFault({ code: "SQLITE_IOERR" })).toBe("io_error");
  expect(storeFault({ code: "SQLITE_BUSY" })).toBeNull();
  expect(storeFault(new Error("x"))).toBeNull();
  expect(storeFault(null)).toBeNull();
});

test("a write that fails on a full store sets disk_full; the first write that lands clears it", () => {
  const store = openStore(join(dir.path, "full.db"));
  try {
    const pages = (store.db.query("PRAGMA page_count").get() as { page_count: number }).page_count;
    store.db.exec(`PRAGMA max_page_count = ${pages}`);
    const big = "x".repeat(20_000);
    expect(() =>
      store.tx((db) =>
        db.query("INSERT INTO settings (key, value, updated_at) VALUES ('big', ?, 0)").run(big),
      ),
    ).toThrow("full");
    expect(store.health().state).toBe("disk_full");
    expect(store.health().errors.disk_full).toBe(1);
    // A transaction that changes nothing proves nothing about the disk.
    store.tx(() => null);
    expect(store.health().state).toBe("disk_full");
    store.db.exec(`PRAGMA max_page_count = ${pages + 100}`);
    store.probeWrite();
    expect(store.health().state).toBe("ok");
    expect(store.health().last_error).toContain("full");
  } finally {
    store.close();
  }
});

test("a read-only open never creates a store, and a 0-byte file is refused", () => {
  expect(() => openStore(join(dir.path, "none", "o.db"), { readonly: true })).toThrow("no store at");
  const empty = join(dir.path, "empty.db");
  writeFileSync(empty, "");
  expect(() => openStore(empty)).toThrow(StoreError);
  expect(() => openStore(empty)).toThrow("0-byte");
});

test("nodes listed read-only are config's, overlaid with what the store recorded", () => {
  const stored = {
    name: "a",
    transport: "local",
    host: null,
    slots: 1,
    executors: null,
    online: 1,
    draining: 0,
    running: 1,
    version: "v",
    load1: 0.5,
    load5: null,
    load15: null,
    mem_avail_mb: null,
    swap_pct: null,
    last_probe_at: 1,
    last_seen_at: 1,
    last_error: null,
    updated_at: 1,
  };
  const rows = configuredNodes(
    [stored, { ...stored, name: "gone" }],
    [
      { name: "a", transport: "local", slots: 4 },
      { name: "b", transport: "local", slots: 2 },
    ] as Parameters<typeof configuredNodes>[1],
    9,
  );
  expect(rows.map((r) => [r.name, r.slots, r.online])).toEqual([
    ["a", 4, 1],
    ["b", 2, 0],
    ["gone", 1, 1],
  ]);
});
