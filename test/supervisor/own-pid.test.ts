import { describe, expect, test } from "bun:test";
import { configSchema } from "../../src/config/schema.ts";
import { answeredBy } from "../../src/supervisor/health.ts";
import { defaultService } from "../../src/supervisor/plan.ts";

describe("a health answer must come from our own instance (own_pid)", () => {
  test("the same pid is ours; another pid, no pid or no JSON is not", () => {
    expect(answeredBy('{"status":"healthy","pid":42}', 42)).toEqual({ ok: true });
    expect(answeredBy('{"status":"healthy","pid":7}', 42).reason).toBe(
      "answered by another process (pid 7), not this instance (pid 42)",
    );
    expect(answeredBy('{"status":"healthy"}', 42).ok).toBe(false);
    expect(answeredBy("ok", 42).ok).toBe(false);
  });
  test("the default service (oyster run) asks for it", () => {
    const svc = defaultService(configSchema.parse({}), null);
    expect(svc.health?.own_pid).toBe(true);
  });
});
