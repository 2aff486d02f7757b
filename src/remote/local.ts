import { abandonRun } from "../node/claim.ts";
import { killRun } from "../node/kill.ts";
import { killRunGroup } from "../node/kill-group.ts";
import { pruneRuns, readOutputWaiting } from "../node/read.ts";
import { readResources } from "../node/resources.ts";
import { selfArgv } from "../node/self.ts";
import { startRun } from "../node/start.ts";
import { isFinal, listRuns, readStatus } from "../node/status.ts";
import type * as msg from "../protocol/messages.ts";
import { toKillReport } from "../protocol/messages.ts";
import { VERSION_STRING } from "../version.ts";
import type { Transport } from "./transport.ts";
import { TransportError } from "./transport.ts";

export interface LocalTransportOptions {
  /** Node home (already expanded). */
  home: string;
  /** How the wrapper is invoked (default: this same oyster). */
  self?: string[];
  pollMs?: number;
  killGraceMs?: number;
}

/**
 * `transport: local`: the node side called in-process. Runs are still detached wrappers, so
 * they outlive the controller exactly as they do on a remote node.
 */
export class LocalTransport implements Transport {
  private readonly watched = new Set<string>();
  private readonly listeners: ((s: msg.RunStatus) => void)[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private closed = false;

  constructor(
    readonly node: string,
    private readonly opts: LocalTransportOptions,
  ) {}

  private guard(): void {
    if (this.closed) throw new TransportError(`transport for node "${this.node}" is closed`, "closed");
  }

  private wrap<T>(op: string, fn: () => Promise<T> | T): Promise<T> {
    return (async () => {
      this.guard();
      try {
        return await fn();
      } catch (err) {
        if (err instanceof TransportError) throw err;
        throw new TransportError(`${op} on node "${this.node}": ${(err as Error).message}`, "command", {
          cause: err,
        });
      }
    })();
  }

  start(req: msg.StartRequest): Promise<msg.RunStatus> {
    return this.wrap("start", async () => {
      const s = await startRun(this.opts.home, req, {
        self: this.opts.self ?? selfArgv(),
        onExit: () => this.poll(),
      });
      if (!isFinal(s)) this.watch(s.run_id);
      else queueMicrotask(() => this.emit(s));
      return s;
    });
  }

  list(filter?: msg.ListFilter): Promise<msg.RunStatus[]> {
    return this.wrap("list", () => listRuns(this.opts.home, filter));
  }

  kill(runId: string): Promise<msg.KillReport> {
    return this.wrap("kill", async () =>
      toKillReport(await killRun(this.opts.home, runId, this.opts.killGraceMs ?? 5_000)),
    );
  }

  killGroup(runId: string, pgid: number): Promise<{ gone: boolean; note: string }> {
    return this.wrap("kill_group", () => killRunGroup(runId, pgid, this.opts.killGraceMs ?? 5_000));
  }

  abandon(runId: string): Promise<msg.AbandonReport> {
    return this.wrap("abandon", () => abandonRun(this.opts.home, runId));
  }

  readOutput(runId: string, req: msg.ReadOutputRequest): Promise<msg.OutputChunk> {
    return this.wrap("read", () => readOutputWaiting(this.opts.home, { run_id: runId, ...req }));
  }

  prune(req: msg.PruneRequest): Promise<msg.PruneReport> {
    return this.wrap("prune", () => pruneRuns(this.opts.home, req));
  }

  resources(): Promise<msg.Resources> {
    return this.wrap("resources", () => readResources());
  }

  version(): Promise<string> {
    return this.wrap("version", () => VERSION_STRING);
  }

  onRunFinished(cb: (status: msg.RunStatus) => void): void {
    this.listeners.push(cb);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.watched.clear();
  }

  private emit(s: msg.RunStatus): void {
    for (const cb of this.listeners) {
      try {
        cb(s);
      } catch {
        // A listener's failure must not stop the others; the reaper reconciles anyway.
      }
    }
  }

  private watch(runId: string): void {
    this.watched.add(runId);
    this.timer ??= setInterval(() => this.poll(), this.opts.pollMs ?? 25);
  }

  private poll(): void {
    for (const id of this.watched) {
      let s: msg.RunStatus | null = null;
      try {
        s = readStatus(this.opts.home, id);
      } catch {
        this.watched.delete(id);
        continue;
      }
      if (s && (isFinal(s) || s.state === "lost")) {
        this.watched.delete(id);
        this.emit(s);
      }
    }
    if (this.watched.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
