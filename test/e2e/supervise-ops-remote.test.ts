import { describe, expect, test } from "bun:test";
import { oyster, waitFor } from "../helpers/cli.ts";
import { followLogs, freePort, onNode, remoteSupervisor, SERVICE_COMMAND } from "../supervisor/helpers.ts";

/**
 * `NAME@node` as the status table prints a remote service, over a real sshd node: restart and
 * logs take it; a wrong node is refused, naming where the service runs.
 */
const remote = remoteSupervisor({
  node: { address: "127.0.0.77", name: "far" },
  prefix: "oyster-supopsrem-",
  service: "web",
  yaml: ({ node, port }) => `${onNode(node)}supervise: { http: { port: ${freePort()} } }
services:
  - name: web
    host: far
    command: ${SERVICE_COMMAND}
    env: { PORT: "${port}" }
    health: { port: ${port}, interval: 500ms, grace: 3s }
    stop_timeout: 2s
  - name: here
    command: ["sh", "-c", "echo here-up; exec sleep 1000"]
`,
});
const { status } = remote;

describe("NAME@node for remote services", () => {
  test("the table's web@far restarts the remote service (new process group on the node)", async () => {
    const before = await waitFor(
      "web healthy",
      () => status().find((r) => r.name === "web" && r.health === "healthy"),
      {
        timeoutMs: 15_000,
      },
    );
    expect(before.host).toBe("far");
    const table = oyster(["supervise", "status"], { cwd: remote.dir });
    expect(table.stdout).toMatch(/^web@far\s+\d+\s+running/m);

    const r = oyster(["supervise", "restart", "web@far"], { cwd: remote.dir, timeoutMs: 20_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^web@far: (starting|running) \(pid \d+\)$/m);
    const after = await waitFor(
      "web healthy again",
      () => status().find((x) => x.name === "web" && x.health === "healthy" && x.pid !== before.pid),
      { timeoutMs: 15_000 },
    );
    expect(after.restarts).toBe(1);
    expect(remote.remotePgid()).toBe(after.pid!);
    // Only the named service was restarted.
    expect(status().find((x) => x.name === "here")!.restarts).toBe(0);
  }, 40_000);

  test("a wrong node is refused, naming the node the service runs on", () => {
    const r = oyster(["supervise", "restart", "web@near"], { cwd: remote.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('service "web" runs on node "far", not on "near" (known: web@far, here)');
  });

  test("`supervise logs` prefixes the remote service as web@far; `logs web@far` shows its own", async () => {
    const { proc, stdout: out } = followLogs(remote.dir);
    try {
      await waitFor(
        "both services' lines",
        () =>
          /^web@far \| \S+Z stdout listening on \d+$/m.test(out()) &&
          /^here {4}\| \S+Z stdout here-up$/m.test(out()),
      );
    } finally {
      proc.kill("SIGTERM");
      await proc.exited;
    }
    const one = oyster(["supervise", "logs", "web@far", "-n", "50"], { cwd: remote.dir });
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^\S+Z stdout listening on \d+$/m);
    expect(one.stdout).not.toContain("here-up");
  }, 30_000);
});
