import { describe, expect, test } from "bun:test";
import {
  agentMessageSchema,
  checkReply,
  ReplyError,
  replySchemas,
  resourcesSchema,
  runListSchema,
} from "../../src/protocol/schemas.ts";

const status = {
  run_id: "r1",
  task_id: "t1",
  pid: 10,
  wrapper_pid: 9,
  state: "running",
  started_at: 1,
  heartbeat_at: 2,
  finished_at: null,
  exit_code: null,
  wrapper_version: "oyster 0.1.0",
};

describe("node reply schemas", () => {
  test("a run status passes, keeping fields a newer node adds", () => {
    const got: unknown = checkReply(replySchemas.start, { ...status, elapsed_ms: 5 }, "start");
    expect(got).toEqual({ ...status, elapsed_ms: 5 });
  });

  test("a list with one bad entry is refused, naming the entry and field", () => {
    const bad = [status, { ...status, state: "dancing" }];
    expect(runListSchema.safeParse(bad).success).toBe(false);
    expect(() => checkReply(replySchemas.list, bad, "list")).toThrow(ReplyError);
    expect(() => checkReply(replySchemas.list, bad, "list")).toThrow(/invalid list reply: 1\.state/);
  });

  test("garbage where a list is expected is refused", () => {
    for (const v of ["garbage", null, 42, { runs: [] }, [null]])
      expect(() => checkReply(replySchemas.list, v, "list")).toThrow(ReplyError);
  });

  test("resources need numbers", () => {
    const r = {
      load1: 0,
      load5: 0,
      load15: 0,
      mem_total_mb: 1,
      mem_avail_mb: 1,
      swap_total_mb: 0,
      swap_used_pct: 0,
      cpus: 2,
      platform: "linux",
    };
    expect(resourcesSchema.safeParse(r).success).toBe(true);
    expect(resourcesSchema.safeParse({ ...r, load1: "high" }).success).toBe(false);
  });

  test("agent messages: replies, errors and events; anything else is refused", () => {
    expect(agentMessageSchema.safeParse({ id: 1, ok: true, result: [] }).success).toBe(true);
    expect(agentMessageSchema.safeParse({ id: null, ok: false, error: "not JSON" }).success).toBe(true);
    expect(agentMessageSchema.safeParse({ event: "run_finished", status }).success).toBe(true);
    for (const v of [null, "x", { id: 1 }, { id: "1", ok: true }, { event: "run_finished", status: {} }])
      expect(agentMessageSchema.safeParse(v).success).toBe(false);
  });
});
