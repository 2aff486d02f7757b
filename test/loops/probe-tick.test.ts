import { describe, expect, test } from "bun:test";
import { createProbe } from "../../src/loops/probe.ts";
import type { Resources } from "../../src/protocol/messages.ts";
import type { Transport } from "../../src/remote/transport.ts";
import { getBreaker } from "../../src/store/breakers.ts";
import { addNode } from "../helpers/store.ts";
import { calm, eventKinds, fakeTransport, loopWorld } from "./fakes.ts";

/** A node that answers (`up`) or refuses the connection, with the resources in `reading`. */
function node(name: string) {
  const s = { up: true, reading: calm as Resources };
  const answer = <T>(v: () => T) =>
    s.up ? Promise.resolve(v()) : Promise.reject(new Error("connection refused"));
  const t: Transport = fakeTransport(name, {
    resources: () => answer(() => s.reading),
    version: () => answer(() => "oyster test"),
  });
  return { t, s };
}

function world(nodes: Transport[]) {
  const w = loopWorld(nodes, { breaker: { failures: 2, open_for: "5m" } });
  for (const t of nodes) addNode(w.store, t.node);
  const back: string[] = [];
  const probe = createProbe(w.ctx, { onBack: async (n) => void back.push(n) });
  return { ...w, probe, back };
}

const online = (w: ReturnType<typeof world>, name: string) =>
  (w.store.db.query("SELECT online FROM nodes WHERE name = ?").get(name) as { online: number }).online;

describe("probe tick", () => {
  test("a node that answers is online, one that does not is offline and counts on its breaker", async () => {
    const a = node("a");
    const b = node("b");
    b.s.up = false;
    const w = world([a.t, b.t]);
    await w.probe.tick();
    expect(online(w, "a")).toBe(1);
    expect(online(w, "b")).toBe(0);
    expect(getBreaker(w.store.db, "node:b").failures).toBe(1);
    expect(w.wakes.n).toBe(1); // a came online: the scheduler is told
  });

  test("an offline node whose breaker opened is HALF_OPEN the moment it answers, and caught up", async () => {
    const a = node("a");
    a.s.up = false;
    const w = world([a.t]);
    await w.probe.tick();
    await w.probe.tick();
    expect(getBreaker(w.store.db, "node:a").state).toBe("OPEN");
    expect(w.notified.map((p) => p.kind)).toEqual(["circuit_open"]);
    a.s.up = true;
    w.clock.t += 1_000; // far inside open_for: answering is what lets it back
    await w.probe.tick();
    expect(online(w, "a")).toBe(1);
    expect(getBreaker(w.store.db, "node:a").state).toBe("HALF_OPEN");
    expect(w.notified.map((p) => p.kind)).toEqual(["circuit_open", "circuit_half_open"]);
    expect(w.back).toEqual(["a"]);
  });

  test("a node going over a resource threshold and back is one event each way", async () => {
    const a = node("a");
    const w = world([a.t]);
    await w.probe.tick();
    a.s.reading = { ...calm, mem_avail_mb: 100 };
    await w.probe.tick();
    await w.probe.tick(); // still over: no second event
    a.s.reading = calm;
    await w.probe.tick();
    expect(eventKinds(w.store, "probe")).toEqual(["server_overloaded", "server_recovered"]);
  });
});
