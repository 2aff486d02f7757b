import { describe, expect, test } from "bun:test";
import { createLoop } from "../../src/loops/loop.ts";
import { waitFor } from "../helpers/cli.ts";

describe("loop runner", () => {
  test("a cycle never overlaps itself: a second tick while one runs joins the running one", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let release: () => void = () => {};
    const loop = createLoop({
      name: "t",
      intervalMs: 60_000,
      tick: async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise<void>((r) => {
          release = r;
        });
        inFlight--;
      },
    });
    const a = loop.tick();
    const b = loop.tick();
    expect(a).toBe(b);
    release();
    await a;
    expect(maxInFlight).toBe(1);
    expect(loop.status().cycles).toBe(1);
  });

  test("an error is caught and recorded with the heartbeat still advancing", async () => {
    let n = 0;
    const loop = createLoop({
      name: "err",
      intervalMs: 10,
      tick: () => {
        n++;
        if (n === 1) throw new Error("boom");
      },
    });
    loop.start();
    await waitFor("two cycles", () => loop.status().cycles >= 2, { timeoutMs: 2_000 });
    await loop.stop();
    const st = loop.status();
    expect(st.errors).toBe(1);
    expect(st.last_error).toBe("boom");
    expect(st.last_heartbeat).not.toBeNull();
    expect(st.unhealthy_after_ms).toBe(20);
  });

  test("stop() waits for the current cycle, is safe twice, and no cycle starts afterwards", async () => {
    let cycles = 0;
    const loop = createLoop({
      name: "s",
      intervalMs: 5,
      tick: async () => {
        cycles++;
        await Bun.sleep(30);
      },
    });
    loop.start();
    await waitFor("a cycle running", () => cycles >= 1, { timeoutMs: 2_000 });
    await loop.stop();
    await loop.stop();
    const after = cycles;
    await Bun.sleep(50);
    expect(cycles).toBe(after);
    expect(loop.status().running).toBe(false);
  });

  test("wake() runs the next cycle without waiting for the interval", async () => {
    const loop = createLoop({ name: "w", intervalMs: 60_000, tick: () => {} });
    loop.start();
    await waitFor("first cycle", () => loop.status().cycles === 1, { timeoutMs: 2_000 });
    loop.wake();
    await waitFor("woken cycle", () => loop.status().cycles === 2, { timeoutMs: 2_000 });
    await loop.stop();
  });
});
