import type { ClientChannel } from "ssh2";
import { logger } from "../../log.ts";
import type { RunStatus } from "../transport.ts";
import { TransportError } from "../transport.ts";
import type { SshConnection } from "./connection.ts";

const log = logger("ssh");

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export interface AgentSessionHooks {
  onRunFinished: (s: RunStatus) => void;
  /** The session came back after dropping: the caller should reconcile with list(). */
  onReconnected: () => void;
}

/**
 * One long-lived `oyster exec agent` channel on a node: JSON lines, requests matched by id,
 * pushed run_finished events. When the channel drops, pending requests fail at once with kind
 * `closed` and a background reconnect (with the connection's backoff) reopens it.
 */
export class AgentSession {
  private channel: ClientChannel | null = null;
  private opening: Promise<ClientChannel> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buf = "";
  private stderrTail = "";
  private closed = false;
  private everUp = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly conn: SshConnection,
    /** The quoted command line that starts the agent on the node. */
    private readonly command: string,
    private readonly hooks: AgentSessionHooks,
    private readonly openTimeoutMs: number,
  ) {
    conn.onClose(() => this.drop("ssh connection closed"));
  }

  get up(): boolean {
    return this.channel !== null;
  }

  private get name(): string {
    return this.conn.node.name;
  }

  /** Open (or reuse) the agent channel; verifies it with a ping. */
  open(): Promise<ClientChannel> {
    if (this.closed)
      return Promise.reject(new TransportError(`agent session to node "${this.name}" is closed`, "closed"));
    if (this.channel) return Promise.resolve(this.channel);
    this.opening ??= this.doOpen().finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  private async doOpen(): Promise<ClientChannel> {
    const ch = await this.conn.openExec(this.command);
    this.buf = "";
    this.stderrTail = "";
    let exitCode: number | null = null;
    ch.on("data", (d: Buffer) => this.onData(d));
    ch.stderr.on("data", (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString("utf8")).slice(-2000);
    });
    ch.on("exit", (code: number | null) => {
      exitCode = code;
    });
    const closedEarly = new Promise<never>((_, reject) =>
      ch.once("close", () => {
        const why = this.stderrTail.trim().split("\n").slice(-3).join(" | ");
        reject(
          new TransportError(
            `the oyster agent on node "${this.name}" exited at start (exit ${exitCode ?? "?"})${why ? `: ${why}` : ""}`,
            exitCode === 127 ? "command" : "protocol",
          ),
        );
      }),
    );
    this.channel = ch;
    try {
      await Promise.race([this.send("ping", {}, this.openTimeoutMs), closedEarly]);
    } catch (err) {
      this.channel = null;
      ch.close();
      throw err;
    }
    closedEarly.catch(() => {});
    ch.once("close", () => {
      if (this.channel === ch)
        this.drop(`agent channel closed${this.stderrTail ? `: ${this.stderrTail.trim().slice(-200)}` : ""}`);
    });
    const wasUp = this.everUp;
    this.everUp = true;
    if (wasUp) queueMicrotask(() => this.hooks.onReconnected());
    return ch;
  }

  private onData(d: Buffer): void {
    this.buf += d.toString("utf8");
    let nl = this.buf.indexOf("\n");
    while (nl >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      nl = this.buf.indexOf("\n");
      if (!line.trim()) continue;
      let msg: {
        id?: number;
        ok?: boolean;
        result?: unknown;
        error?: string;
        event?: string;
        status?: RunStatus;
      };
      try {
        msg = JSON.parse(line);
      } catch {
        log.debug(`node ${this.name}: agent sent a non-JSON line: ${line.slice(0, 200)}`);
        continue;
      }
      if (msg.event === "run_finished" && msg.status) {
        try {
          this.hooks.onRunFinished(msg.status);
        } catch (err) {
          log.warn(`run_finished handler failed: ${(err as Error).message}`);
        }
        continue;
      }
      if (typeof msg.id !== "number") continue;
      const p = this.pending.get(msg.id);
      if (!p) continue;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new TransportError(`node "${this.name}": ${msg.error ?? "request failed"}`, "command"));
    }
  }

  private send(op: string, payload: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    const ch = this.channel;
    if (!ch)
      return Promise.reject(new TransportError(`agent session to node "${this.name}" is down`, "closed"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new TransportError(`${op} on node "${this.name}" timed out after ${timeoutMs} ms`, "timeout"));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      ch.write(`${JSON.stringify({ id, op, ...payload })}\n`);
    });
  }

  /** One request on the session, opening it first if needed. */
  async request(op: string, payload: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    await this.open();
    return this.send(op, payload, timeoutMs);
  }

  private drop(why: string): void {
    const ch = this.channel;
    this.channel = null;
    if (ch) {
      log.debug(`node ${this.name}: agent session dropped (${why})`);
      try {
        ch.close();
      } catch {}
    }
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new TransportError(`agent session to node "${this.name}" dropped: ${why}`, "closed"));
      this.pending.delete(id);
    }
    if (this.everUp) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.closed || this.channel) return;
      this.open().catch((err: Error) => {
        log.debug(`node ${this.name}: agent reconnect failed: ${err.message}`);
        this.scheduleReconnect();
      });
    }, this.conn.backoffMs());
    this.reconnectTimer.unref?.();
  }

  /** End the current agent process; the next request starts a fresh one (after a binary upgrade). */
  recycle(): void {
    const ch = this.channel;
    this.channel = null;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new TransportError(`agent session to node "${this.name}" was restarted`, "closed"));
      this.pending.delete(id);
    }
    if (ch) {
      try {
        ch.end();
      } catch {}
    }
  }

  close(): void {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ch = this.channel;
    this.channel = null;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new TransportError(`agent session to node "${this.name}" closed`, "closed"));
    }
    this.pending.clear();
    if (ch) {
      try {
        ch.end();
      } catch {}
    }
  }
}
