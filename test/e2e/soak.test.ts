import { expect, test } from "bun:test";
import { runSoak } from "../../bench/soak-run.ts";

/**
 * The 60-second variant of bench/soak.ts: the controller and four CLI loops on one store, three
 * sshd nodes, loops at 1 s. Nothing may hit a lock error, lose a task or run one twice.
 */
test(
  "soak: 60 s of submit/status/tasks/retry beside the controller",
  async () => {
    const r = await runSoak({ seconds: Number(process.env.OYSTER_SOAK_SECONDS ?? 60) });
    expect(r.lockErrors).toBe(0);
    expect(r.unfinished).toBe(0);
    expect(r.duplicated).toBe(0);
    expect(r.lostRuns).toBe(0);
    expect(r.longLivedHolders).toBe(0);
    expect(r.submitted).toBeGreaterThan(100);
    expect(r.succeeded).toBeGreaterThan(100);
    for (const [name, c] of Object.entries(r.clients)) {
      expect({ name, failures: c.failures, lastError: c.lastError }).toEqual({
        name,
        failures: 0,
        lastError: "",
      });
      if (name !== "retry") expect(c.calls).toBeGreaterThan(10);
    }
    expect(r.controllerErrors).toEqual([]);
  },
  { timeout: 240_000 },
);
