import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { oyster, spawnController, tempDir, waitFor } from "../helpers/cli.ts";
import { storeReader } from "../helpers/store.ts";
import { webhookReceiver } from "../helpers/webhook.ts";

/**
 * Guardian and factory hooks on the local node, from the built binary: the generator fills the
 * inbox when work runs low, project completion runs its hook once, a long run alerts once (event
 * and webhook), a cancelled running task is stopped on the node.
 */
const dir = tempDir("oyster-e2e-heal-local-");
const inbox = join(dir.path, "inbox");
const webhook = webhookReceiver();
const hooks = webhook.hooks;
let controller: Subprocess | null = null;

const { q, count } = storeReader(join(dir.path, "o.db"));

beforeAll(async () => {
  // The generator writes one spec per call into the inbox it is given, at most three times.
  const gen = join(dir.path, "gen.sh");
  writeFileSync(
    gen,
    `#!/bin/sh\nn=$(ls "${dir.path}"/gen-count-* 2>/dev/null | wc -l)\n[ "$n" -ge 3 ] && exit 0\ntouch "${dir.path}/gen-count-$n"\nprintf -- '---\\ntask_id: gen-%s\\nproject: generated\\ncommand: "true"\\n---\\nfrom the generator, pending was %s\\n' "$n" "$OYSTER_PENDING" > "$1/gen-$n.tmp" && mv "$1/gen-$n.tmp" "$1/gen-$n.md"\n`,
  );
  chmodSync(gen, 0o755);
  writeFileSync(
    join(dir.path, "oyster.yaml"),
    [
      "store: ./o.db",
      "http: { port: 0 }",
      "nodes: [{ name: local, transport: local, slots: 4, oyster_home: ./node-home }]",
      "loops: { scheduler: { interval: 100ms }, reaper: { interval: 300ms }, guardian: { interval: 200ms }, factory: { interval: 200ms } }",
      "timeouts: { long_running: 700ms }",
      `notify: { webhook: "${webhook.url}" }`,
      "factory:",
      `  inbox: ${JSON.stringify(inbox)}`,
      "  min_pending: 1",
      `  generate: [${JSON.stringify(gen)}, "{inbox}"]`,
      `  on_project_complete: ["sh", "-c", "echo \\"$OYSTER_PROJECT\\" >> ${join(dir.path, "completed.log")}", "{project}"]`,
      "",
    ].join("\n"),
  );
  controller = spawnController(dir.path);
});

afterAll(async () => {
  controller?.kill("SIGTERM");
  await controller?.exited;
  webhook.stop();
  Bun.spawnSync(["pkill", "-KILL", "-f", join(dir.path, "node-home")]);
  dir.cleanup();
});

describe("factory hooks", () => {
  test("generate fills the inbox while pending work is low; the project completes once", async () => {
    await waitFor(
      "three generated tasks succeeded",
      () =>
        count("SELECT COUNT(*) AS n FROM tasks WHERE project = 'generated' AND status = 'succeeded'") === 3,
      { timeoutMs: 20_000 },
    );
    expect(readdirSync(join(inbox, "processed")).sort()).toEqual(["gen-0.md", "gen-1.md", "gen-2.md"]);
    await waitFor("the completion hook ran", () => existsSync(join(dir.path, "completed.log")));
    await waitFor("project_complete webhook", () => hooks.some((h) => h.kind === "project_complete"));
    // Generated one after another, the project may complete after each task; never twice for the same set.
    const events = count("SELECT COUNT(*) AS n FROM events WHERE kind = 'project_complete'");
    const lines = readFileSync(join(dir.path, "completed.log"), "utf8").trim().split("\n");
    expect(lines.every((l) => l === "generated")).toBe(true);
    expect(events).toBeGreaterThanOrEqual(1);
    expect(events).toBeLessThanOrEqual(3);
  });
});

describe("guardian", () => {
  test("a run past long_running alerts once (event and webhook); cancelling it stops it on the node", async () => {
    const specs = join(dir.path, "long");
    Bun.spawnSync(["mkdir", "-p", specs]);
    writeFileSync(join(specs, "long.md"), '---\ntask_id: long-1\ncommand: "sleep 30"\n---\nx\n');
    expect(oyster(["submit", specs], { cwd: dir.path }).code).toBe(0);
    await waitFor("long-running event", () =>
      count("SELECT COUNT(*) AS n FROM events WHERE kind = 'run_long_running' AND task_id = 'long-1'"),
    );
    await waitFor("long-running webhook", () =>
      hooks.some((h) => h.kind === "run_long_running" && h.task_id === "long-1"),
    );
    // Prove later guardian cycles ran: each reports a task waiting on an id nobody submitted.
    for (const k of [1, 2]) {
      writeFileSync(
        join(specs, "long.md"),
        `---\ntask_id: orphan-${k}\ncommand: "true"\ndepends_on: [nobody-${k}]\n---\nx\n`,
      );
      expect(oyster(["submit", "--allow-missing-deps", specs], { cwd: dir.path }).code).toBe(0);
      await waitFor(`guardian cycle ${k}`, () =>
        count(
          "SELECT COUNT(*) AS n FROM events WHERE kind = 'dependency_missing' AND task_id = ?",
          `orphan-${k}`,
        ),
      );
    }
    expect(
      count("SELECT COUNT(*) AS n FROM events WHERE kind = 'run_long_running' AND task_id = 'long-1'"),
    ).toBe(1);
    expect(hooks.filter((h) => h.kind === "run_long_running" && h.task_id === "long-1")).toHaveLength(1);

    const run = q<{ run_id: string; pid: number }>(
      "SELECT run_id, pid FROM runs WHERE task_id = 'long-1'",
    )[0]!;
    expect(oyster(["tasks", "cancel", "long-1"], { cwd: dir.path }).code).toBe(0);
    await waitFor(
      "run cancelled",
      () =>
        count("SELECT COUNT(*) AS n FROM runs WHERE run_id = ? AND state = 'cancelled'", run.run_id) === 1,
    );
    await waitFor("executor stopped", () => {
      try {
        process.kill(run.pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    expect(q("SELECT status FROM tasks WHERE task_id = 'long-1'")).toEqual([{ status: "cancelled" }]);
  });
});
