import type { Client, ClientChannel, SFTPWrapper } from "ssh2";
import { logger } from "../../log.ts";
import { metrics } from "../../metrics.ts";
import { withDeadline } from "../../os/deadline.ts";
import { TransportError } from "../transport.ts";
import { type ConnectOptions, connectSsh, type SshNode } from "./connect.ts";

const log = logger("ssh");

export interface ConnectionOptions extends ConnectOptions {
  /** Default deadline of every command. */
  commandTimeoutMs: number;
  /** First reconnect delay; doubles up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/**
 * A one-off command's stdout is held whole until it exits; past this a node's answer is refused
 * as a protocol error instead of growing the controller without bound.
 */
export const MAX_EXEC_OUTPUT_BYTES = 16 * 1024 * 1024;
/** Only the end of stderr is kept: it names the failure. */
const STDERR_TAIL_BYTES = 64 * 1024;

/** OpenSSH allows 10 sessions per connection (MaxSessions); stay below it. */
const MAX_CHANNELS = 8;

/**
 * One pooled ssh2 connection to a node. Connects on demand, shares one in-flight attempt
 * between callers, and remembers failures so background reconnects back off exponentially.
 */
export class SshConnection {
  private client: Client | null = null;
  private connecting: Promise<Client> | null = null;
  private failures = 0;
  private closed = false;
  private channels = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly closeListeners: (() => void)[] = [];

  constructor(
    readonly node: SshNode,
    readonly opts: ConnectionOptions,
  ) {}

  get connected(): boolean {
    return this.client !== null;
  }

  /** The open client, or null (no reconnect): for a tunnel only worth opening on a live connection. */
  get current(): Client | null {
    return this.client;
  }

  /** Delay before the next automatic reconnect attempt. */
  backoffMs(): number {
    const min = this.opts.minBackoffMs ?? 250;
    const max = this.opts.maxBackoffMs ?? 5_000;
    return Math.min(max, min * 2 ** Math.max(0, this.failures - 1));
  }

  onClose(cb: () => void): void {
    this.closeListeners.push(cb);
  }

  /** The open client, connecting if needed. */
  connect(): Promise<Client> {
    if (this.closed)
      return Promise.reject(new TransportError(`connection to node "${this.node.name}" is closed`, "closed"));
    if (this.client) return Promise.resolve(this.client);
    if (this.connecting) return this.connecting;
    const t0 = performance.now();
    this.connecting = connectSsh(this.node, this.opts)
      .then((client) => {
        metrics.sshCommandSeconds.observe(
          { node: this.node.name, op: "connect" },
          (performance.now() - t0) / 1000,
        );
        if (this.closed) {
          client.end();
          throw new TransportError(`connection to node "${this.node.name}" is closed`, "closed");
        }
        this.failures = 0;
        this.client = client;
        const gone = () => {
          if (this.client !== client) return;
          this.client = null;
          log.debug(`ssh connection to ${this.node.name} closed`, { node: this.node.name });
          for (const cb of this.closeListeners) cb();
        };
        client.on("close", gone);
        client.on("end", gone);
        client.on("error", (err) => {
          log.debug(`ssh connection to ${this.node.name}: ${err.message}`, { node: this.node.name });
          gone();
        });
        return client;
      })
      .catch((err: unknown) => {
        this.failures++;
        throw err;
      })
      .finally(() => {
        this.connecting = null;
      });
    return this.connecting;
  }

  private async acquire(): Promise<() => void> {
    while (this.channels >= MAX_CHANNELS) await new Promise<void>((r) => this.waiting.push(r));
    this.channels++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.channels--;
      this.waiting.shift()?.();
    };
  }

  /** Open an exec channel for `command` (already quoted). The caller owns the channel. */
  async openExec(command: string): Promise<ClientChannel> {
    const client = await this.connect();
    return new Promise((resolve, reject) => {
      try {
        client.exec(command, (err, ch) => {
          if (err)
            reject(
              new TransportError(
                `cannot open a channel on node "${this.node.name}": ${err.message}`,
                "closed",
                {
                  cause: err,
                },
              ),
            );
          else resolve(ch);
        });
      } catch (err) {
        reject(
          new TransportError(
            `ssh connection to node "${this.node.name}" is gone: ${(err as Error).message}`,
            "closed",
          ),
        );
      }
    });
  }

  /**
   * Run one command line on the node and collect its output. On timeout the channel is
   * signalled and closed, and the call rejects with kind `timeout`.
   */
  async exec(
    command: string,
    opts: { stdin?: string; timeoutMs?: number; maxOutputBytes?: number } = {},
  ): Promise<ExecResult> {
    const timeoutMs = opts.timeoutMs ?? this.opts.commandTimeoutMs;
    const maxOut = opts.maxOutputBytes ?? MAX_EXEC_OUTPUT_BYTES;
    const release = await this.acquire();
    let abortHook: (() => void) | undefined;
    try {
      return await withDeadline(
        (async () => {
          const ch = await this.openExec(command);
          return await new Promise<ExecResult>((resolve, reject) => {
            const out: Buffer[] = [];
            let outBytes = 0;
            let err = Buffer.alloc(0);
            let code: number | null = null;
            let signal: string | null = null;
            let refused = false;
            ch.on("data", (d: Buffer) => {
              if (refused) return;
              outBytes += d.length;
              if (outBytes <= maxOut) {
                out.push(d);
                return;
              }
              refused = true;
              out.length = 0;
              try {
                ch.signal("KILL");
              } catch {}
              ch.close();
              reject(
                new TransportError(
                  `protocol error from node "${this.node.name}": a command's output passed ${maxOut} bytes`,
                  "protocol",
                ),
              );
            });
            ch.stderr.on("data", (d: Buffer) => {
              err = Buffer.concat([err, d]);
              if (err.length > STDERR_TAIL_BYTES) err = err.subarray(err.length - STDERR_TAIL_BYTES);
            });
            ch.on("exit", (c: number | null, s?: string) => {
              code = c;
              signal = s ?? null;
            });
            ch.on("close", () =>
              resolve({
                code,
                signal,
                stdout: Buffer.concat(out).toString("utf8"),
                stderr: err.toString("utf8"),
              }),
            );
            if (opts.stdin !== undefined) ch.end(opts.stdin);
            else ch.end();
            abortHook = () => {
              try {
                ch.signal("KILL");
              } catch {}
              ch.close();
            };
          });
        })(),
        timeoutMs,
        () =>
          new TransportError(
            `command on node "${this.node.name}" timed out after ${timeoutMs} ms`,
            "timeout",
          ),
        () => abortHook?.(),
      );
    } finally {
      release();
    }
  }

  async sftp(): Promise<SFTPWrapper> {
    const client = await this.connect();
    return new Promise((resolve, reject) =>
      client.sftp((err, sftp) =>
        err
          ? reject(
              new TransportError(`sftp to node "${this.node.name}" failed: ${err.message}`, "command", {
                cause: err,
              }),
            )
          : resolve(sftp),
      ),
    );
  }

  /** Drop the current connection (the next call reconnects). */
  reset(): void {
    const c = this.client;
    this.client = null;
    c?.end();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reset();
  }
}
