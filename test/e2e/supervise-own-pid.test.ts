import { afterEach, expect, test } from "bun:test";
import { OYSTER_BIN, oyster, tempDir, waitFor } from "../helpers/cli.ts";
import { freePort, type RunningSupervisor, startSupervise } from "../supervisor/helpers.ts";

/**
 * Issue 11.4: a supervised `oyster run` is healthy only when its own child answers. Here another
 * process holds the controller's port and answers 200 like a healthy controller; the child
 * cannot bind and runs on without HTTP. With `own_pid` (the default service sets it), the
 * supervisor sees the answer is not its child's and says so, instead of calling it healthy.
 */
const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Row {
  name: string;
  pid: number | null;
  health: string;
  last_error: string | null;
}

test("another process answering on the controller's port is not the supervised controller", async () => {
  const t = tempDir("oyster-e2e-ownpid-");
  cleanups.push(t.cleanup);
  const port = freePort();
  const decoy = Bun.serve({
    hostname: "127.0.0.1",
    port,
    fetch: () => Response.json({ status: "healthy", service: "someone-else", pid: 1 }),
  });
  cleanups.push(() => decoy.stop(true));
  const yaml = [
    "store: ./o.db",
    `http: { port: ${port} }`,
    "nodes: [{ name: local, transport: local, slots: 1, oyster_home: ./node-home }]",
    "services:",
    `  - name: ctl`,
    `    command: [${JSON.stringify(OYSTER_BIN)}, "run"]`,
    `    health: { port: ${port}, interval: 500ms, grace: 500ms, unhealthy_threshold: 2, own_pid: true }`,
    "",
  ].join("\n");
  const sup: RunningSupervisor = startSupervise(t.path, yaml);
  cleanups.push(async () => {
    sup.proc.kill("SIGTERM");
    await sup.proc.exited;
  });
  const row = await waitFor(
    "the supervisor to refuse the other process's answer",
    () => {
      const r = oyster(["supervise", "status", "--json"], { cwd: t.path });
      if (r.code !== 0) return null;
      const ctl = (JSON.parse(r.stdout) as Row[]).find((s) => s.name === "ctl");
      return ctl?.last_error?.includes("answered by another process") ? ctl : null;
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  );
  expect(row.last_error).toContain("(pid 1), not this instance");
  expect(row.health).not.toBe("healthy");
}, 40_000);
