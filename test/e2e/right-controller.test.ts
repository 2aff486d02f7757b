import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { oyster, waitFor } from "../helpers/cli.ts";
import { controllerSandbox, localNode } from "../helpers/controller.ts";
import { storeReader } from "../helpers/store.ts";

/**
 * Issue 11.4 on the built binary: `oyster status` and `oyster health` believe only the
 * controller of their own store. Another directory's controller on the port they would ask
 * is named and not believed, and looking never creates a store file.
 */
const sandbox = controllerSandbox("oyster-e2e-right-");
const setup = (extra: string[] = []) => sandbox.configured([localNode(1), ...extra]);
const start = (cwd: string) => sandbox.start(cwd);

type Status = {
  controller: { up: boolean; url: string; health: { store_id: string; instance_id: string } | null };
};
const statusOf = (cwd: string) => JSON.parse(oyster(["status", "--json"], { cwd }).stdout) as Status;

test("status and health believe only their own store's controller; reads never create a store", async () => {
  const a = setup();
  start(a);
  const up = await waitFor("controller A up", () => {
    const s = statusOf(a);
    return s.controller.up ? s : null;
  });
  const storeId = storeReader(join(a, "o.db")).q<{ value: string }>(
    "SELECT value FROM settings WHERE key = 'store_id'",
  )[0]?.value;
  expect(storeId).toMatch(/^[0-9a-f-]{36}$/);
  expect(up.controller.health?.store_id).toBe(storeId!);
  expect(up.controller.health?.instance_id).toMatch(/^[0-9a-f-]{36}$/);
  expect(oyster(["health"], { cwd: a }).code).toBe(0);
  const port = new URL(up.controller.url).port;

  // B is configured for A's port but has no store: A is not its controller, and nothing is created.
  const b = setup([`http: { port: ${port} }`]);
  const st = oyster(["status"], { cwd: b });
  expect(st.code).toBe(3); // its controller is down (issue 11.6)
  expect(st.stderr).toContain(`instance ${up.controller.health?.instance_id}`);
  expect(st.stderr).toContain("is not this config's: there is no store at");
  const h = oyster(["health"], { cwd: b });
  expect(h.code).toBe(1);
  expect(h.stdout).toContain("is not this config's");
  for (const args of [["tasks"], ["tasks", "show", "x"], ["stats"], ["breaker", "list"]]) {
    const r = oyster(args, { cwd: b });
    expect([args, r.code]).toEqual([args, 1]);
    expect(r.stderr).toContain("there is no store at");
  }
  // `nodes` lists the configured nodes even before a store exists, and creates none.
  expect(oyster(["nodes"], { cwd: b }).code).toBe(0);
  expect(existsSync(join(b, "o.db"))).toBe(false);

  // Once B's own controller has run (its store has an id), A is still not believed.
  const pb = start(b);
  await waitFor("B's store id", () => {
    if (!existsSync(join(b, "o.db"))) return false;
    return (
      storeReader(join(b, "o.db")).count("SELECT COUNT(*) AS n FROM settings WHERE key = 'store_id'") === 1
    );
  });
  pb.kill("SIGTERM");
  await pb.exited;
  const after = oyster(["status"], { cwd: b });
  expect(after.code).toBe(3);
  expect(after.stdout).toContain("controller  DOWN");
  expect(after.stdout).toContain(`is not the controller of ${join(b, "o.db")}`);
  expect(oyster(["health"], { cwd: b }).code).toBe(1);
  // An explicit --url is the operator's choice and is asked as given.
  expect(oyster(["health", "--url", up.controller.url], { cwd: b }).code).toBe(0);
}, 30_000);
