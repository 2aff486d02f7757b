import { afterAll, afterEach, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { until } from "../../src/os/deadline.ts";
import { readStat } from "../../src/os/proc.ts";
import { readText, runSync, spawnChild } from "../../src/os/spawn.ts";
import { alive, groupGone, killAll, killGroupNow } from "../helpers/procs.ts";

const dir = realpathSync(mkdtempSync(join(tmpdir(), "oyster-spawn-")));
/** Every child a test started: killed with its group after each test, whatever happened. */
const started: number[] = [];

afterEach(() => {
  killAll(started.splice(0));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("an exit code comes back with no signal", async () => {
  const c = await spawnChild(["sh", "-c", "exit 3"]);
  started.push(c.pid);
  expect(await c.exited).toEqual({ code: 3, signal: null });
});

test("a child killed by a signal reports the signal and no code", async () => {
  const c = await spawnChild(["sleep", "30"]);
  started.push(c.pid);
  process.kill(c.pid, "SIGTERM");
  expect(await c.exited).toEqual({ code: null, signal: "SIGTERM" });
});

test("detached: the child leads a new session and process group (pgid = sid = pid)", async () => {
  const c = await spawnChild(["sleep", "30"], { detached: true });
  started.push(c.pid);
  expect(readStat(c.pid)).toMatchObject({ pgid: c.pid, sid: c.pid });
  const plain = await spawnChild(["sleep", "30"]);
  started.push(plain.pid);
  expect(readStat(plain.pid)?.pgid).toBe(readStat(process.pid)?.pgid);
});

test("an open fd as stdout and stderr: the output lands in the file after the parent closed its copy", async () => {
  const file = join(dir, "out.log");
  const fd = openSync(file, "a");
  const c = await spawnChild(["sh", "-c", "echo out; echo err >&2"], { stdio: ["ignore", fd, fd] });
  closeSync(fd);
  started.push(c.pid);
  expect(await c.exited).toEqual({ code: 0, signal: null });
  expect(readFileSync(file, "utf8")).toBe("out\nerr\n");
});

test("piped stdout and stderr are read to their end", async () => {
  const c = await spawnChild(["sh", "-c", "printf 'a\\nb'; echo oops >&2"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  started.push(c.pid);
  const [out, err] = await Promise.all([readText(c.stdout), readText(c.stderr)]);
  expect([out, err]).toEqual(["a\nb", "oops\n"]);
  expect(await c.exited).toEqual({ code: 0, signal: null });
});

test("stdio not piped gives no stream", async () => {
  const c = await spawnChild(["true"]);
  started.push(c.pid);
  expect([c.stdout, c.stderr]).toEqual([null, null]);
  await c.exited;
});

test("the exit is reported while a grandchild still holds the stdout pipe", async () => {
  const c = await spawnChild(["sh", "-c", "echo hi; sleep 30 & exit 0"], {
    detached: true,
    stdio: ["ignore", "pipe", "ignore"],
  });
  const out = readText(c.stdout);
  try {
    const t0 = Date.now();
    expect(await c.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(10_000);
    // The pipe is still open: the grandchild (same group) is alive.
    expect(groupGone(c.pid)).toBe(false);
  } finally {
    killGroupNow(c.pid);
  }
  expect(await out).toBe("hi\n");
  expect(await until(() => groupGone(c.pid), 5_000)).toBe(true);
});

test("cwd and env are the child's, and env replaces the parent's", async () => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion, not a template
  const c = await spawnChild(["sh", "-c", 'pwd; echo "$FOO|${HOME:-unset}"'], {
    cwd: dir,
    env: { FOO: "bar", PATH: process.env.PATH },
    stdio: ["ignore", "pipe", "ignore"],
  });
  started.push(c.pid);
  expect(await readText(c.stdout)).toBe(`${dir}\nbar|unset\n`);
});

test("a command that cannot start rejects with the system's code", async () => {
  const err = await spawnChild([join(dir, "no-such-command")]).catch((e: unknown) => e);
  expect((err as NodeJS.ErrnoException).code).toBe("ENOENT");
  expect(await spawnChild([]).catch((e: unknown) => (e as Error).message)).toMatch(/empty argv/);
});

test("timeoutMs SIGKILLs a child that runs too long", async () => {
  const t0 = Date.now();
  const c = await spawnChild(["sleep", "30"], { timeoutMs: 100 });
  started.push(c.pid);
  expect(await c.exited).toEqual({ code: null, signal: "SIGKILL" });
  expect(Date.now() - t0).toBeLessThan(10_000);
});

test("unref: the parent exits while its detached child runs on", async () => {
  const script = [
    `import { spawnChild } from ${JSON.stringify(resolve(import.meta.dir, "../../src/os/spawn.ts"))};`,
    `const c = await spawnChild(["sleep", "30"], { detached: true });`,
    "c.unref();",
    "console.log(c.pid);",
  ].join("\n");
  const parent = await spawnChild([process.execPath, "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  started.push(parent.pid);
  const out = await readText(parent.stdout);
  const pid = Number(out.trim());
  expect(pid).toBeGreaterThan(1);
  started.push(pid);
  expect(await parent.exited).toEqual({ code: 0, signal: null });
  expect(alive(pid)).toBe(true);
});

test("runSync: output and code, a SIGKILL at the timeout, nothing for a missing command", () => {
  expect(runSync(["sh", "-c", "echo x; echo y >&2; exit 2"], 5_000)).toEqual({
    code: 2,
    signal: null,
    stdout: "x\n",
  });
  const t0 = Date.now();
  expect(runSync(["sh", "-c", "trap '' TERM; exec sleep 30"], 200)).toEqual({
    code: null,
    signal: "SIGKILL",
    stdout: "",
  });
  expect(Date.now() - t0).toBeLessThan(10_000);
  expect(runSync([join(dir, "no-such-command")], 1_000)).toEqual({ code: null, signal: null, stdout: "" });
});
