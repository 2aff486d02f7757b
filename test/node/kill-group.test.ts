import { afterEach, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { killRunGroup, runProcessesInGroup } from "../../src/node/kill-group.ts";
import { alive, killGroupNow } from "../helpers/procs.ts";

/** Real detached process groups, one per test; whatever a test leaves is SIGKILLed after it. */
const groups: number[] = [];
afterEach(() => {
  for (const g of groups.splice(0)) killGroupNow(g);
});

function group(env: Record<string, string>, script = "trap '' TERM; sleep 30 & wait"): number {
  const child = spawn("sh", ["-c", script], {
    detached: true,
    stdio: "ignore",
    env: { ...process.env, ...env },
  });
  child.unref();
  groups.push(child.pid!);
  return child.pid!;
}

describe("killRunGroup", () => {
  test("kills every process of the run in its group, through SIGKILL when SIGTERM is ignored", async () => {
    const pgid = group({ OYSTER_RUN_ID: "r-1" });
    const found = await (async () => {
      for (let i = 0; i < 100; i++) {
        const n = runProcessesInGroup(pgid, "r-1").length;
        if (n >= 2) return n;
        await Bun.sleep(10);
      }
      return 0;
    })();
    expect(found).toBe(2);
    const r = await killRunGroup("r-1", pgid, 200);
    expect(r).toMatchObject({ gone: true, found: 2 });
    expect(runProcessesInGroup(pgid, "r-1")).toEqual([]);
  });

  test("a group whose processes carry another run id (a reused pid) is left alone", async () => {
    const pgid = group({ OYSTER_RUN_ID: "someone-else" });
    await Bun.sleep(50);
    const r = await killRunGroup("r-2", pgid, 200);
    expect(r).toMatchObject({ gone: true, found: 0 });
    expect(r.note).toContain("no process of run r-2");
    expect(alive(pgid)).toBe(true);
  });

  test("refuses process group 0, 1 or a negative one, and a bad run id", async () => {
    for (const pgid of [0, 1, -5]) expect((await killRunGroup("r-3", pgid)).gone).toBe(false);
    await expect(killRunGroup("../x", 1234)).rejects.toThrow("invalid run id");
  });
});
