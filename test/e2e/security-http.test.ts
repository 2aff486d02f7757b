import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { oyster, waitFor } from "../helpers/cli.ts";
import { controllerSandbox, controllerUrl, localNode } from "../helpers/controller.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * Issue 9 points 1–2 on the built binary: who may use the HTTP door. A web page the operator
 * has open (cross-origin, text/plain, DNS rebinding) and a local user without the token must
 * not get a spec into the store; the CLI, which reads the generated token, still can.
 */
const sandbox = controllerSandbox("oyster-e2e-sec-http-");

const SPEC = (id: string, extra = "") => `---\ntask_id: ${id}\ncommand: "true"\n${extra}---\nquick\n`;

const setup = (extra: string[] = []) =>
  sandbox.configured([localNode(2), "loops: { scheduler: { interval: 100ms } }", ...extra]);
const start = sandbox.start;
const urlOf = controllerUrl;

const taskCount = (cwd: string) => storeReader(join(cwd, "o.db")).count("SELECT COUNT(*) AS n FROM tasks");

describe("the controller's HTTP door", () => {
  test("a fresh controller generates a private token; without it, or from a browser, nothing is written", async () => {
    const cwd = setup();
    start(cwd);
    const url = await urlOf(cwd);
    const tokenFile = join(cwd, ".oyster", "http-token");
    expect(statSync(join(cwd, ".oyster")).mode & 0o777).toBe(0o700);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = readFileSync(tokenFile, "utf8").trim();
    expect(token.length).toBeGreaterThanOrEqual(43);
    const auth = { authorization: `Bearer ${token}` };

    const post = async (headers: Record<string, string>, body = SPEC("evil")) => {
      const r = await fetch(`${url}/api/tasks`, { method: "POST", headers, body });
      return { status: r.status, body: (await r.json()) as { error?: string } };
    };
    // A local user (or script) without the token.
    const noToken = await post({ "content-type": "text/markdown" });
    expect(noToken.status).toBe(401);
    expect(noToken.body.error).toContain("Bearer");
    // What a web page can send without a preflight: text/plain, with and without Origin.
    const page = "http://attacker.example";
    expect((await post({ "content-type": "text/plain", origin: page })).status).toBe(403);
    expect((await post({ "content-type": "text/plain", "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await post({ "content-type": "text/plain" })).status).toBe(401);
    // Even with the token, text/plain and form types are not spec text, and `; x=json` is not JSON.
    const batch = JSON.stringify({ specs: [{ source: "x.md", text: SPEC("evil") }] });
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "text/plain; x=json"]) {
      const r = await post({ ...auth, "content-type": type }, type.includes("json") ? batch : SPEC("evil"));
      expect([type, r.status]).toEqual([type, 415]);
      expect(r.body.error).toContain("text/markdown");
    }
    // The token does not make a cross-origin request acceptable.
    expect((await post({ ...auth, "content-type": "text/markdown", origin: page })).status).toBe(403);
    expect(taskCount(cwd)).toBe(0);

    // The CLI reads the generated token: submit and cancel through the API work.
    writeFileSync(join(cwd, "a.md"), SPEC("a"));
    writeFileSync(join(cwd, "w.md"), SPEC("w", "depends_on: [later]\n"));
    const sub = oyster(["submit", "a.md", "--api"], { cwd });
    expect(sub.stderr).toBe("");
    expect(sub.stdout).toContain(`submitted 1 task(s) through ${url}: a`);
    expect(oyster(["submit", "w.md", "--api", "--allow-missing-deps"], { cwd }).code).toBe(0);
    const cancel = oyster(["tasks", "cancel", "w", "--api"], { cwd });
    expect(cancel.stdout).toBe("w: pending → cancelled\n");
    expect(cancel.code).toBe(0);
    const { q } = storeReader(join(cwd, "o.db"));
    await waitFor(
      "task a to succeed",
      () => q<{ status: string }>("SELECT status FROM tasks WHERE task_id = 'a'")[0]?.status === "succeeded",
    );
    expect(q<{ status: string }>("SELECT status FROM tasks WHERE task_id = 'w'")[0]?.status).toBe(
      "cancelled",
    );
    const retry = oyster(["tasks", "retry", "w", "--api", "--url", url], { cwd });
    expect(retry.stdout).toBe("w: cancelled → pending\n");
    // A wrong token from the env is refused, and the CLI says so.
    const wrong = oyster(["tasks", "cancel", "w", "--api"], {
      cwd,
      env: { OYSTER_HTTP_TOKEN: "x".repeat(40) },
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("refused the API token");

    // DNS rebinding: a page under another name reads nothing, not even one task.
    const read = (path: string, host: string) => fetch(`${url}${path}`, { headers: { host } });
    const port = new URL(url).port;
    for (const host of [`attacker.example:${port}`, "attacker.example", `localhost:${Number(port) + 1}`])
      expect([host, (await read("/api/tasks/a", host)).status]).toEqual([host, 403]);
    expect((await read("/api/tasks/a", `localhost:${port}`)).status).toBe(200);
    expect((await fetch(`${url}/api/tasks/a`)).headers.get("access-control-allow-origin")).toBeNull();

    // `oyster status` says where the token is.
    const st = oyster(["status"], { cwd });
    expect(st.stdout).toContain(`api token   ${tokenFile}`);
  }, 30_000);

  test("a short token is refused for a bind beyond loopback, before anything is written", () => {
    const cwd = setup(['http: { host: "0.0.0.0", port: 0, token: "short-token" }']);
    const r = oyster(["run", "--port", "0"], { cwd, timeoutMs: 10_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("has only 11 characters: use at least 16");
    expect(existsSync(join(cwd, "o.db"))).toBe(false);
  });

  test("beyond loopback, reads need the token too while /health, /ready and /metrics stay open", async () => {
    const token = "a-long-enough-token-for-the-test";
    const cwd = setup(['http: { host: "0.0.0.0", port: 0 }']);
    start(cwd, { OYSTER_HTTP_TOKEN: token });
    const url = await urlOf(cwd, { OYSTER_HTTP_TOKEN: token });
    const local = url.replace("0.0.0.0", "127.0.0.1");
    const r = await fetch(`${local}/api/tasks`);
    expect(r.status).toBe(401);
    expect(await r.text()).toContain("beyond loopback");
    expect((await fetch(`${local}/api/status`)).status).toBe(401);
    expect(
      (await fetch(`${local}/api/tasks`, { headers: { authorization: `Bearer ${token}` } })).status,
    ).toBe(200);
    for (const p of ["/health", "/ready", "/metrics"])
      expect([p, (await fetch(`${local}${p}`)).status]).toEqual([p, 200]);
    // No token file was made: the configured one is used, and status names its source.
    expect(existsSync(join(cwd, ".oyster", "http-token"))).toBe(false);
    const st = oyster(["status"], { cwd, env: { OYSTER_HTTP_TOKEN: token } });
    expect(st.stdout).toContain("controller  up");
    expect(st.stdout).toContain("api token   from OYSTER_HTTP_TOKEN");
    // Without the token the CLI is refused, says so, and falls back to the store.
    const bare = oyster(["status"], { cwd });
    expect(bare.stdout).toContain("controller  DOWN");
    expect(bare.stdout).toContain("refused this CLI (401");
  }, 30_000);
});
