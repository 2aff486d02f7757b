import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import type { RunStatus } from "../remote/transport.ts";
import { VERSION_STRING } from "../version.ts";
import { runDir } from "./home.ts";
import { killRun } from "./kill.ts";
import { killRunGroup } from "./kill-group.ts";
import { parseStartRequest } from "./request.ts";
import { readResources } from "./resources.ts";
import { startRun } from "./start.ts";
import { isFinal, listRuns, liveStatus } from "./status.ts";

/**
 * `oyster exec agent`: a JSON-lines session on stdin/stdout for one controller.
 *   → {"id":1,"op":"start","req":StartRequest}      ← {"id":1,"ok":true,"result":RunStatus}
 *   → {"id":2,"op":"list"}                          ← {"id":2,"ok":true,"result":RunStatus[]}
 *   → {"id":3,"op":"kill","run_id":"…","grace_ms":5000}
 *   → {"id":8,"op":"kill_group","run_id":"…","pid":1234,"grace_ms":5000}   (a run the node lost)
 *   → {"id":4,"op":"resources"} / "version" / "ping"
 *   ← {"event":"run_finished","status":RunStatus}   (pushed; final states and lost)
 * Runs never depend on the agent: it only reads their status files.
 */
export interface AgentOptions {
  home: string;
  input: Readable;
  write: (line: string) => void;
  /** Poll interval for the status files of runs this session watches (default 25 ms: a few small reads). */
  pollMs?: number;
  self?: string[];
}

export interface AgentRequest {
  id: number | string;
  op: string;
  req?: unknown;
  run_id?: string;
  grace_ms?: number;
  pid?: number;
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
      const runs = listRuns(home);
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
  const send = (obj: unknown) => write(`${JSON.stringify(obj)}\n`);
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
  const rl = createInterface({ input: opts.input, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let msg: AgentRequest;
    try {
      msg = JSON.parse(line) as AgentRequest;
    } catch {
      send({ id: null, ok: false, error: `not JSON: ${line.slice(0, 100)}` });
      continue;
    }
    const p = handle(home, msg, (id) => watched.add(id), opts.self, poll)
      .then((result) => send({ id: msg.id, ok: true, result }))
      .catch((err: unknown) =>
        send({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
      )
      .finally(() => pending.delete(p));
    pending.add(p);
  }
  await Promise.allSettled([...pending]);
  clearInterval(timer);
}
