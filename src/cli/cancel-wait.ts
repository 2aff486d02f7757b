import type { Config } from "../config/schema.ts";
import { sleep } from "../os/deadline.ts";
import type { Store } from "../store/db.ts";
import { type EventRow, listEvents } from "../store/events.ts";
import { leaseHolder } from "../store/lease.ts";
import { cliToken, controllerUrl, getJson } from "./controller-client.ts";

/** How often the CLI looks whether the controller has carried out a cancel. */
const POLL_MS = 100;

/**
 * How long `tasks cancel` waits for the controller to kill a running task: two scheduler ticks
 * (the canceller runs on each) plus one node call that may time out and a reconnect, at most
 * 30 s so a script never hangs on it.
 */
export function cancelWaitMs(config: Config): number {
  return Math.min(
    30_000,
    2 * config.loops.scheduler.interval + config.ssh.command_timeout + config.ssh.connect_timeout,
  );
}

export type CancelOutcome =
  | { kind: "cancelled" }
  | { kind: "pending"; why: string }
  /** It ended by itself (succeeded, failed…) before the kill reached it. */
  | { kind: "ended"; status: string };

/** What the task looks like now: its status, and the reason of a pending kill reported since the request. */
type Look = () => Promise<{ status: string; pendingWhy: string | null }>;

/**
 * After `cancelTask` asked for the cancel of a running task: wait until the running controller
 * has sent the kill (the task is then cancelled), or until it says the kill is pending (node
 * unreachable), or until the wait is over.
 */
async function waitFor(look: Look, config: Config, node: string): Promise<CancelOutcome> {
  const deadline = Date.now() + cancelWaitMs(config);
  for (;;) {
    const seen = await look();
    if (seen.status === "cancelled") return { kind: "cancelled" };
    if (!["dispatched", "running"].includes(seen.status)) return { kind: "ended", status: seen.status };
    if (seen.pendingWhy) return { kind: "pending", why: seen.pendingWhy };
    if (Date.now() >= deadline)
      return {
        kind: "pending",
        why: `the controller has not confirmed the kill on ${node} within ${cancelWaitMs(config) / 1000} s`,
      };
    await sleep(POLL_MS);
  }
}

function pendingWhy(ev: EventRow | undefined, since: number, node: string): string | null {
  if (!ev || ev.ts < since) return null;
  const data = ev.data ? (JSON.parse(ev.data) as { error?: string }) : {};
  return data.error ?? `node ${node} could not be asked`;
}

/** `tasks cancel` on the store. Without a controller on it nobody can send the kill: said at once. */
export async function awaitCancel(
  store: Store,
  config: Config,
  taskId: string,
  node: string,
  since: number,
): Promise<CancelOutcome> {
  if (config.store !== ":memory:" && !leaseHolder(config.store).held)
    return {
      kind: "pending",
      why: `no controller runs on this store; the kill is sent to ${node} when \`oyster run\` starts`,
    };
  return waitFor(
    async () =>
      store.read((db) => {
        const t = db.query("SELECT status FROM tasks WHERE task_id = ?").get(taskId) as {
          status: string;
        } | null;
        const ev = listEvents(db, { kind: "cancel_kill_pending", task_id: taskId, limit: 1 })[0];
        return { status: t?.status ?? "missing", pendingWhy: pendingWhy(ev, since, node) };
      }),
    config,
    node,
  );
}

/** `tasks cancel --api`: the same wait, asked of the controller's API. */
export async function awaitCancelViaApi(
  config: Config,
  explicit: string | undefined,
  taskId: string,
  node: string,
  since: number,
): Promise<CancelOutcome> {
  const base = controllerUrl(config, explicit);
  const token = cliToken(config);
  const id = encodeURIComponent(taskId);
  return waitFor(
    async () => {
      const t = await getJson<{ status?: string }>(`${base}/api/tasks/${id}`, 3_000, token);
      const ev = await getJson<{ events?: EventRow[] }>(
        `${base}/api/events?kind=cancel_kill_pending&task_id=${id}&limit=1`,
        3_000,
        token,
      );
      return {
        status: t.body?.status ?? "missing",
        pendingWhy: pendingWhy(ev.body?.events?.[0], since, node),
      };
    },
    config,
    node,
  );
}

/** One line for a cancel's outcome, as `tasks cancel` prints it. */
export function describeCancel(id: string, from: string, node: string, o: CancelOutcome): string {
  if (o.kind === "cancelled") return `${id}: ${from} → cancelled (killed on ${node})`;
  if (o.kind === "ended") return `${id}: ended as ${o.status} before the kill reached it`;
  return `${id}: ${from} → cancel requested; the kill is pending: ${o.why}`;
}
