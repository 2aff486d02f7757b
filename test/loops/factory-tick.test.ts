import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createFactory } from "../../src/loops/factory.ts";
import { tempDir } from "../helpers/cli.ts";
import { addTask } from "../helpers/store.ts";
import { eventKinds, loopWorld } from "./fakes.ts";

const dirs: { cleanup: () => void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.cleanup();
});

function world(factory: Record<string, unknown> = {}) {
  const dir = tempDir("oyster-factory-");
  dirs.push(dir);
  const inbox = join(dir.path, "inbox");
  const w = loopWorld([], { factory: { inbox, min_pending: 0, ...factory } });
  // Past SETTLE_MS for every file written now: the fake clock is ahead of the files' mtimes.
  w.clock.t = Date.now() + 1_000;
  return { ...w, inbox, factory: createFactory(w.ctx) };
}

const spec = (id: string, extra = "") => `---\ntask_id: ${id}\ncommand: "true"\n${extra}---\nbody\n`;

/** Poll for a file a hook writes (it runs in the background) for up to 5 s. */
async function fileAppears(path: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`${path} did not appear within 5 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("factory tick", () => {
  test("inbox intake: good files become tasks in processed/, a broken one goes to failed/ with its reason", async () => {
    const w = world();
    mkdirSync(w.inbox, { recursive: true });
    writeFileSync(join(w.inbox, "a.md"), spec("a"));
    writeFileSync(join(w.inbox, "b.md"), spec("b", "depends_on: [a]\n"));
    writeFileSync(join(w.inbox, "broken.md"), "no front matter here\n");
    await w.factory.tick();
    const ids = w.store.db.query("SELECT task_id FROM tasks ORDER BY task_id").all();
    expect(ids).toEqual([{ task_id: "a" }, { task_id: "b" }]);
    expect(readdirSync(join(w.inbox, "processed")).sort()).toEqual(["a.md", "b.md"]);
    expect(readdirSync(join(w.inbox, "failed")).sort()).toEqual(["broken.md", "broken.md.error"]);
    expect(readFileSync(join(w.inbox, "failed", "broken.md.error"), "utf8")).toMatch(/front matter/);
    expect(eventKinds(w.store, "factory")).toContain("inbox_refused");
    expect(w.wakes.n).toBe(1);
  });

  test("a file younger than SETTLE_MS waits for the next tick", async () => {
    const w = world();
    mkdirSync(w.inbox, { recursive: true });
    writeFileSync(join(w.inbox, "a.md"), spec("a"));
    w.clock.t = Date.now(); // the file was written just now
    await w.factory.tick();
    expect(readdirSync(w.inbox)).toEqual(["a.md"]);
  });

  test("generate runs when pending tasks are below min_pending, not when there are enough", async () => {
    const w = world({ min_pending: 2, generate: ["touch", "{inbox}/generated-{pending}"] });
    addTask(w.store, { id: "one" });
    addTask(w.store, { id: "two" });
    await w.factory.tick();
    w.store.db.query("UPDATE tasks SET status = 'succeeded' WHERE task_id = 'two'").run();
    await w.factory.tick();
    await fileAppears(join(w.inbox, "generated-1"));
    expect(readdirSync(w.inbox).filter((f) => f.startsWith("generated"))).toEqual(["generated-1"]);
  });

  test("a project whose every task succeeded is announced once: webhook and on_project_complete", async () => {
    const w = world({ on_project_complete: ["touch", "{inbox}/complete-{project}"] });
    addTask(w.store, { id: "a" });
    w.store.db.query("UPDATE tasks SET project = 'p', status = 'succeeded' WHERE task_id = 'a'").run();
    await w.factory.tick();
    await w.factory.tick();
    await fileAppears(join(w.inbox, "complete-p"));
    expect(w.notified).toEqual([{ kind: "project_complete", project: "p", tasks: 1 }]);
    expect(eventKinds(w.store, "factory")).toEqual(["project_complete"]);
  });

  test("research runs at most every research_interval", async () => {
    const w = world({
      research: ["sh", "-c", 'echo x >> "$OYSTER_INBOX/research.log"'],
      research_interval: "1h",
    });
    const log = join(w.inbox, "research.log");
    const lines = () => (existsSync(log) ? readFileSync(log, "utf8").split("\n").length - 1 : 0);
    await w.factory.tick();
    await fileAppears(log);
    await new Promise((r) => setTimeout(r, 100)); // the first hook has exited: not busy
    w.clock.t += 60_000;
    await w.factory.tick(); // inside the interval: not run
    // An absence cannot be polled for: give a wrongly started hook the time the first one took.
    await new Promise((r) => setTimeout(r, 100));
    expect(lines()).toBe(1);
    // Past it: run again. A tick that finds the first hook still exiting skips it (one at a
    // time), so tick until the second line is there.
    const deadline = Date.now() + 5_000;
    while (lines() < 2 && Date.now() < deadline) {
      w.clock.t += 3_600_000;
      await w.factory.tick();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(readFileSync(log, "utf8")).toBe("x\nx\n");
  });

  test("a research tick skipped while the last one still runs does not restart the interval", async () => {
    const w = world({
      research: [
        "sh",
        "-c",
        'echo x >> "$OYSTER_INBOX/research.log"; while [ ! -e "$OYSTER_INBOX/release" ]; do sleep 0.02; done',
      ],
      research_interval: "1h",
    });
    const log = join(w.inbox, "research.log");
    await w.factory.tick();
    await fileAppears(log);
    w.clock.t += 3_600_000; // due, but the first research is still running: skipped
    await w.factory.tick();
    writeFileSync(join(w.inbox, "release"), "");
    // Same clock from here on: the skipped tick must not count as a research.
    const deadline = Date.now() + 5_000;
    while (readFileSync(log, "utf8") !== "x\nx\n" && Date.now() < deadline) {
      await w.factory.tick();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(readFileSync(log, "utf8")).toBe("x\nx\n");
  });

  test("a clock stepped back does not hold research off until it catches up", async () => {
    const w = world({
      research: ["sh", "-c", 'echo x >> "$OYSTER_INBOX/research.log"'],
      research_interval: "1h",
    });
    const log = join(w.inbox, "research.log");
    await w.factory.tick();
    await fileAppears(log);
    w.clock.t -= 1_000; // a second back (a slew, not a step): still inside the interval
    await w.factory.tick();
    await new Promise((r) => setTimeout(r, 100)); // an absence: give a wrong hook time to write
    expect(readFileSync(log, "utf8")).toBe("x\n");
    w.clock.t -= 86_400_000; // a day back
    const deadline = Date.now() + 5_000;
    while (readFileSync(log, "utf8") !== "x\nx\n" && Date.now() < deadline) {
      await w.factory.tick();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(readFileSync(log, "utf8")).toBe("x\nx\n");
  });
});
