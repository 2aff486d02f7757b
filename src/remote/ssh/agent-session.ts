import type { ClientChannel } from "ssh2";
import { logger } from "../../log.ts";
import { jsonLine, LineFramer, MAX_LINE_BYTES } from "../../protocol/framing.ts";
import type { RunStatus } from "../../protocol/messages.ts";
import { agentMessageSchema, schemaProblem } from "../../protocol/schemas.ts";
import { TransportError } from "../transport.ts";
import type { SshConnection } from "./connection.ts";

/** The agent process ended before its first answer: the node cannot run it (the transport falls back to one-off exec). */
export class AgentExitedAtStart extends TransportError {
  override name = "AgentExitedAtStart";
}

const log = logger("ssh");

/**
 * Reopening after a protocol error waits 1 s, doubling per error up to a minute: the connection is
 * fine, so its own backoff stays at the minimum, and a node that breaks the protocol on every
 * session (a flood, a wrong binary) must not be reopened four times a second.
 */
const FAULT_BACKOFF_MS = 1_000;
const FAULT_BACKOFF_MAX_MS = 60_000;
/** Errors further apart than this start the count again. */
const FAULT_MEMORY_MS = 5 * 60_000;

/** The delay before reopening a session after its `faults`-th protocol error in a row (pure). */
export function faultBackoffMs(faults: number): number {
  if (faults <= 0) return 0;
  return Math.min(FAULT_BACKOFF_MAX_MS, FAULT_BACKOFF_MS * 2 ** (faults - 1));
}

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
  private readonly framer = new LineFramer(MAX_LINE_BYTES);
  private stderrTail = "";
  private closed = false;
  private everUp = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  /** Protocol errors in a row (see FAULT_MEMORY_MS) and when the last one was. */
  private faults = 0;
  private lastFaultAt = 0;
  private lastFault = "";

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
    // Right after a protocol error, callers get that error instead of a new session to flood them.
    const wait = this.lastFaultAt + this.faultDelay() - Date.now();
    if (wait > 0)
      return Promise.reject(
        new TransportError(`${this.lastFault} (session reopens in ${Math.ceil(wait / 1000)} s)`, "protocol"),
      );
    this.opening ??= this.doOpen().finally(() => {
      this.opening = null;
    });
    return this.opening;
  }

  private async doOpen(): Promise<ClientChannel> {
    const ch = await this.conn.openExec(this.command);
    this.framer.reset();
    this.stderrTail = "";
    let exitCode: number | null = null;
    // Data from a channel this session already dropped is ignored, so a flood cannot outlive its drop.
    ch.on("data", (d: Buffer) => {
      if (this.channel === ch) this.onData(d);
    });
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
          new AgentExitedAtStart(
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
    for (const frame of this.framer.push(d)) {
      if (this.channel === null) return;
      if (frame.kind === "overflow") {
        this.protocolFault(`the agent sent a line of ${frame.bytes} bytes (limit ${MAX_LINE_BYTES})`);
        return;
      }
      if (frame.text.trim()) this.onLine(frame.text);
    }
    // Fail as soon as the limit is passed: the line's end may never come.
    if (this.framer.overflowing && this.channel)
      this.protocolFault(`the agent sent a line longer than ${MAX_LINE_BYTES} bytes`);
  }

  private onLine(line: string): void {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      this.protocolFault(`the agent sent a line that is not JSON: ${JSON.stringify(line.slice(0, 120))}`);
      return;
    }
    const parsed = agentMessageSchema.safeParse(raw);
    if (!parsed.success) {
      this.protocolFault(`the agent sent an invalid message (${schemaProblem(parsed.error)})`);
      return;
    }
    const msg = parsed.data;
    if ("event" in msg) {
      try {
        this.hooks.onRunFinished(msg.status as RunStatus);
      } catch (err) {
        log.warn(`run_finished handler failed: ${(err as Error).message}`);
      }
      return;
    }
    if (msg.id === null) {
      // The agent could not read one of our lines: the request it belonged to is unknown, so it times out.
      log.warn(`node ${this.name}: the agent refused a request line: ${msg.ok ? "" : msg.error}`, {
        node: this.name,
      });
      return;
    }
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.ok) p.resolve(msg.result);
    else p.reject(new TransportError(`node "${this.name}": ${msg.error || "request failed"}`, "command"));
  }

  /**
   * The node broke the protocol: the session cannot be trusted to stay in step, so it is dropped
   * (pending requests fail with kind `protocol` and this reason) and reopened later with backoff.
   */
  private protocolFault(why: string): void {
    const reason = `protocol error from node "${this.name}": ${why}`;
    log.warn(reason, { node: this.name });
    const now = Date.now();
    this.faults = now - this.lastFaultAt > FAULT_MEMORY_MS ? 1 : this.faults + 1;
    this.lastFaultAt = now;
    this.lastFault = reason;
    this.framer.reset();
    this.drop(reason, "protocol");
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
      ch.write(jsonLine({ id, op, ...payload }));
    });
  }

  /** One request on the session, opening it first if needed. */
  async request(op: string, payload: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    await this.open();
    return this.send(op, payload, timeoutMs);
  }

  private drop(why: string, kind: "closed" | "protocol" = "closed"): void {
    const ch = this.channel;
    this.channel = null;
    if (ch) {
      log.debug(`node ${this.name}: agent session dropped (${why})`, { node: this.name });
      try {
        ch.close();
      } catch {}
    }
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(
        new TransportError(
          kind === "protocol" ? why : `agent session to node "${this.name}" dropped: ${why}`,
          kind,
        ),
      );
      this.pending.delete(id);
    }
    if (this.everUp) this.scheduleReconnect();
  }

  private faultDelay(): number {
    return Date.now() - this.lastFaultAt > FAULT_MEMORY_MS ? 0 : faultBackoffMs(this.faults);
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(
      () => {
        this.reconnectTimer = null;
        if (this.closed || this.channel) return;
        this.open().catch((err: Error) => {
          log.debug(`node ${this.name}: agent reconnect failed: ${err.message}`, { node: this.name });
          this.scheduleReconnect();
        });
      },
      Math.max(this.conn.backoffMs(), this.faultDelay()),
    );
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
