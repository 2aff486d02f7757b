import type { Readable } from "node:stream";
import { jsonLine, LineFramer, MAX_LINE_BYTES } from "../protocol/framing.ts";
import type { ListFilter, RunStatus } from "../protocol/messages.ts";
import { agentRequestSchema, schemaProblem } from "../protocol/schemas.ts";
import { VERSION_STRING } from "../version.ts";
import { abandonRun } from "./claim.ts";
import { runDir } from "./home.ts";
import { killRun } from "./kill.ts";
import { killRunGroup } from "./kill-group.ts";
import { pruneRuns, readOutputWaiting } from "./read.ts";
import { parseStartRequest } from "./request.ts";
import { readResources } from "./resources.ts";
import { startRun } from "./start.ts";
import { isFinal, listRuns, liveStatus } from "./status.ts";

/**
 * `oyster exec agent`: a JSON-lines session on stdin/stdout for one controller.
 *   → {"id":1,"op":"start","req":StartRequest}      ← {"id":1,"ok":true,"result":RunStatus}
 *   → {"id":2,"op":"list"}                          ← {"id":2,"ok":true,"result":RunStatus[]}
 *     ("active":true and/or "runs":[…] narrow it, see ListFilter)
 *   → {"id":3,"op":"kill","run_id":"…","grace_ms":5000}
 *   → {"id":8,"op":"kill_group","run_id":"…","pid":1234,"grace_ms":5000}   (a run the node lost)
 *   → {"id":9,"op":"abandon","run_id":"…"}         ← AbandonReport   (a run the node never showed)
 *   → {"id":4,"op":"resources"} / "version" / "ping"
 *   → {"id":5,"op":"read","run_id":"…","offset":0,"limit":262144}   ← OutputChunk ("tail_lines":N instead of offset)
 *   → {"id":6,"op":"prune","runs":["…"],"older_than_ms":…,"keep":…} ← PruneReport
 *   ← {"event":"run_finished","status":RunStatus}   (pushed; final states and lost)
 * Runs never depend on the agent: it only reads their status files. Lines are split on `\n` only
 * and capped at MAX_LINE_BYTES; any line it cannot use (not JSON, `null`, no op, too long) gets an
 * error reply with `"id": null` or the request's id, and the session goes on.
 */
export interface AgentOptions {
  home: string;
  input: Readable;
  write: (line: string) => void;
  /** Poll interval for the status files of runs this session watches (default 25 ms: a few small reads). */
  pollMs?: number;
  self?: string[];
  /** Longest request line accepted (default MAX_LINE_BYTES). */
  maxLineBytes?: number;
}

export interface AgentRequest {
  id: number | string;
  op: string;
  req?: unknown;
  run_id?: string;
  grace_ms?: number;
  /** list: see ListFilter. */
  active?: boolean;
  runs?: unknown;
  pid?: number;
  /** read: see ReadRequest. */
  offset?: unknown;
  limit?: unknown;
  tail_lines?: unknown;
  wait_ms?: unknown;
  /** prune: see PruneRequest. */
  older_than_ms?: unknown;
  keep?: unknown;
}

const optInt = (v: unknown, what: string): number | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
    throw new Error(`${what} must be a non-negative integer`);
  return v;
};

function listFilter(msg: AgentRequest): ListFilter {
  if (msg.runs !== undefined && !(Array.isArray(msg.runs) && msg.runs.every((r) => typeof r === "string")))
    throw new Error("list: runs must be an array of run ids");
  return { active: msg.active === true, runs: msg.runs as string[] | undefined };
}

export async function handle(
  home: string,
  msg: AgentRequest,
  watch: (runId: string) => void,
  self?: string[],
  poke?: () => void,
) {
  switch (msg.op) {
    case "start": {
      const req = parseStartRequest(msg.req);
      const s = await startRun(home, req, { self, onExit: poke });
      watch(s.run_id);
      return s;
    }
    case "list": {
      const runs = listRuns(home, listFilter(msg));
      for (const r of runs) if (r.state === "running" || r.state === "starting") watch(r.run_id);
      return runs;
    }
    case "kill": {
      if (typeof msg.run_id !== "string") throw new Error("kill needs run_id");
      return killRun(home, msg.run_id, typeof msg.grace_ms === "number" ? msg.grace_ms : 5_000);
    }
    case "kill_group": {
      if (typeof msg.run_id !== "string" || typeof msg.pid !== "number")
        throw new Error("kill_group needs run_id and pid");
      return killRunGroup(msg.run_id, msg.pid, typeof msg.grace_ms === "number" ? msg.grace_ms : 5_000);
    }
    case "abandon": {
      if (typeof msg.run_id !== "string") throw new Error("abandon needs run_id");
      return abandonRun(home, msg.run_id);
    }
    case "read": {
      if (typeof msg.run_id !== "string") throw new Error("read needs run_id");
      return readOutputWaiting(home, {
        run_id: msg.run_id,
        wait_ms: optInt(msg.wait_ms, "read: wait_ms"),
        offset: optInt(msg.offset, "read: offset"),
        limit: optInt(msg.limit, "read: limit"),
        tail_lines: optInt(msg.tail_lines, "read: tail_lines"),
      });
    }
    case "prune": {
      if (!Array.isArray(msg.runs) || !msg.runs.every((r) => typeof r === "string"))
        throw new Error("prune: runs must be an array of run ids");
      return pruneRuns(home, {
        runs: msg.runs as string[],
        older_than_ms: optInt(msg.older_than_ms, "prune: older_than_ms"),
        keep: optInt(msg.keep, "prune: keep"),
      });
    }
    case "resources":
      return readResources();
    case "version":
      return VERSION_STRING;
    case "ping":
      return "pong";
    default:
      throw new Error(`unknown op ${JSON.stringify(msg.op)}`);
  }
}

export async function runAgent(opts: AgentOptions): Promise<void> {
  const { home, write } = opts;
  const watched = new Set<string>();
  const send = (obj: unknown) => write(jsonLine(obj));
  for (const r of listRuns(home)) if (!isFinal(r) && r.state !== "lost") watched.add(r.run_id);

  const poll = () => {
    for (const id of watched) {
      let s: RunStatus | null;
      try {
        s = liveStatus(runDir(home, id));
      } catch {
        watched.delete(id);
        continue;
      }
      if (s && (isFinal(s) || s.state === "lost")) {
        watched.delete(id);
        send({ event: "run_finished", status: s });
      }
    }
  };
  const timer = setInterval(poll, opts.pollMs ?? 25);
  const pending = new Set<Promise<void>>();
  const onLine = (line: string) => {
    if (!line.trim()) return;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      send({ id: null, ok: false, error: `not JSON: ${line.slice(0, 100)}` });
      return;
    }
    const parsed = agentRequestSchema.safeParse(raw);
    if (!parsed.success) {
      const id = idOf(raw);
      send({ id, ok: false, error: `not a request (${schemaProblem(parsed.error)})` });
      return;
    }
    const msg = parsed.data as AgentRequest;
    const p = handle(home, msg, (id) => watched.add(id), opts.self, poll)
      .then((result) => send({ id: msg.id, ok: true, result }))
      .catch((err: unknown) =>
        send({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
      )
      .finally(() => pending.delete(p));
    pending.add(p);
  };
  const limit = opts.maxLineBytes ?? MAX_LINE_BYTES;
  const framer = new LineFramer(limit);
  // An over-long line is answered once, as soon as it passes the limit (its end may never come).
  let answeredLong = false;
  const refuseLong = () =>
    send({ id: null, ok: false, error: `request line longer than ${limit} bytes refused` });
  for await (const chunk of opts.input) {
    for (const frame of framer.push(chunk as Buffer | string)) {
      if (frame.kind === "line") onLine(frame.text);
      else {
        if (!answeredLong) refuseLong();
        answeredLong = false;
      }
    }
    if (framer.overflowing && !answeredLong) {
      answeredLong = true;
      refuseLong();
    }
  }
  const tail = framer.push("\n");
  for (const frame of tail) if (frame.kind === "line") onLine(frame.text);
  await Promise.allSettled([...pending]);
  clearInterval(timer);
}

/** The id of a request that failed its envelope check, when it has a usable one. */
function idOf(raw: unknown): number | string | null {
  if (typeof raw !== "object" || raw === null) return null;
  const id = (raw as { id?: unknown }).id;
  return typeof id === "number" || typeof id === "string" ? id : null;
}
