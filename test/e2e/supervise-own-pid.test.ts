import { expect, test } from "bun:test";
import { OYSTER_BIN, waitFor } from "../helpers/cli.ts";
import { freePort, type RunningSupervisor, startSupervise, superviseSuite } from "../supervisor/helpers.ts";

/**
 * Issue 11.4: a supervised `oyster run` is healthy only when its own child answers. Here another
 * process holds the controller's port and answers 200 like a healthy controller; the child
 * cannot bind and runs on without HTTP. With `own_pid` (the default service sets it), the
 * supervisor sees the answer is not its child's and says so, instead of calling it healthy.
 */
const { defer, setup, status } = superviseSuite("oyster-e2e-ownpid-");

test("another process answering on the controller's port is not the supervised controller", async () => {
  const { dir } = setup();
  const port = freePort();
  const decoy = Bun.serve({
    hostname: "127.0.0.1",
    port,
    fetch: () => Response.json({ status: "healthy", service: "someone-else", pid: 1 }),
  });
  defer(() => decoy.stop(true));
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
  const sup: RunningSupervisor = startSupervise(dir, yaml);
  defer(async () => {
    sup.proc.kill("SIGTERM");
    await sup.proc.exited;
  });
  const row = await waitFor(
    "the supervisor to refuse the other process's answer",
    () => {
      const ctl = status(dir).find((s) => s.name === "ctl");
      return ctl?.last_error?.includes("answered by another process") ? ctl : null;
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  );
  expect(row.last_error).toContain("(pid 1), not this instance");
  expect(row.health).not.toBe("healthy");
}, 40_000);
