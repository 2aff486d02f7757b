import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { SFTPWrapper } from "ssh2";
import type { NodeConfig } from "../../config/schema.ts";
import { logger } from "../../log.ts";
import { metrics } from "../../metrics.ts";
import type * as msg from "../../protocol/messages.ts";
import { toKillReport } from "../../protocol/messages.ts";
import { checkReply, ReplyError, replySchemas } from "../../protocol/schemas.ts";
import { quotePath, shellJoin } from "../quote.ts";
import type { Transport } from "../transport.ts";
import { TransportError } from "../transport.ts";
import { AgentExitedAtStart, AgentSession } from "./agent-session.ts";
import { type ConnectionOptions, SshConnection } from "./connection.ts";

const log = logger("ssh");
/** How long a node whose agent would not start is served by one-off execs before retrying. */
const AGENT_RETRY_MS = 60_000;

export interface SshTransportOptions extends ConnectionOptions {
  /** Grace between SIGTERM and SIGKILL for kill(). */
  killGraceMs?: number;
}

/**
 * Transport over ssh2: requests go over the node's long-lived agent session; if the agent
 * cannot start there (old or missing binary) each call falls back to a one-off `oyster exec`.
 */
export class SshTransport implements Transport {
  readonly node: string;
  private readonly conn: SshConnection;
  private readonly agent: AgentSession;
  private readonly finished: ((s: msg.RunStatus) => void)[] = [];
  private readonly reconnected: (() => void)[] = [];
  /** After the agent failed to start, skip it for a while instead of paying a channel per call. */
  private agentSkipUntil = 0;

  constructor(
    private readonly cfg: NodeConfig,
    private readonly opts: SshTransportOptions,
  ) {
    this.node = cfg.name;
    this.conn = new SshConnection(cfg, opts);
    this.agent = new AgentSession(
      this.conn,
      shellJoin([cfg.oyster_bin, "exec", "agent", "--home", cfg.oyster_home]),
      {
        onRunFinished: (s) => {
          for (const cb of this.finished) cb(s);
        },
        onReconnected: () => {
          log.info(`node ${this.node}: agent session reconnected`, { node: this.node });
          for (const cb of this.reconnected) cb();
        },
      },
      opts.commandTimeoutMs,
    );
  }

  private async timed<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      metrics.sshCommandSeconds.observe({ node: this.node, op }, (performance.now() - t0) / 1000);
    }
  }

  /**
   * Agent request, or the one-off exec fallback when the agent cannot run on this node. Either
   * way the reply is checked against the op's schema: a node that answers nonsense fails this
   * call with kind `protocol` and a reason, and nothing it sent reaches the loops.
   */
  private async call<Op extends keyof typeof replySchemas>(
    op: Op,
    payload: Record<string, unknown>,
    fallback: { argv: string[]; stdin?: string; parse: (stdout: string) => unknown },
    timeoutMs = this.opts.commandTimeoutMs,
  ): Promise<ReplyOf<Op>> {
    const valid = (value: unknown): ReplyOf<Op> => {
      try {
        return checkReply(replySchemas[op], value, op) as ReplyOf<Op>;
      } catch (err) {
        if (!(err instanceof ReplyError)) throw err;
        const why = `protocol error from node "${this.node}": ${err.message}`;
        log.warn(why, { node: this.node });
        throw new TransportError(why, "protocol");
      }
    };
    return this.timed(op, async () => {
      if (Date.now() >= this.agentSkipUntil) {
        try {
          return valid(await this.agent.request(op, payload, timeoutMs));
        } catch (err) {
          // Only a node where the agent itself will not start uses the fallback; a dead connection,
          // a timeout or a request the node refused must surface as is.
          if (!(err instanceof AgentExitedAtStart)) throw err;
          log.debug(`node ${this.node}: agent unavailable (${err.message}); using one-off exec`, {
            node: this.node,
          });
          this.agentSkipUntil = Date.now() + AGENT_RETRY_MS;
        }
      }
      const res = await this.conn.exec(shellJoin(fallback.argv), { stdin: fallback.stdin, timeoutMs });
      if (res.code !== 0) {
        const why = (res.stderr.trim() || res.stdout.trim()).split("\n").slice(-3).join(" | ");
        throw new TransportError(
          `\`oyster exec ${op}\` on node "${this.node}" exited ${res.code ?? res.signal}${why ? `: ${why.slice(0, 500)}` : ""}`,
          "command",
        );
      }
      let parsed: unknown;
      try {
        parsed = fallback.parse(res.stdout);
      } catch (e) {
        const why = `protocol error from node "${this.node}": unreadable ${op} output (${(e as Error).message.slice(0, 200)})`;
        log.warn(why, { node: this.node });
        throw new TransportError(why, "protocol");
      }
      return valid(parsed);
    });
  }

  private exec(...args: string[]): string[] {
    return [this.cfg.oyster_bin, "exec", ...args, "--home", this.cfg.oyster_home];
  }

  start(req: msg.StartRequest): Promise<msg.RunStatus> {
    return this.call(
      "start",
      { req },
      { argv: this.exec("start"), stdin: JSON.stringify(req), parse: (o) => JSON.parse(o) },
    );
  }

  list(filter: msg.ListFilter = {}): Promise<msg.RunStatus[]> {
    const flags = [
      ...(filter.active ? ["--active"] : []),
      ...(filter.runs ? [`--runs=${filter.runs.join(",")}`] : []),
    ];
    return this.call(
      "list",
      { ...(filter.active ? { active: true } : {}), ...(filter.runs ? { runs: filter.runs } : {}) },
      { argv: this.exec("list", "--json", ...flags), parse: (o) => JSON.parse(o) },
    );
  }

  async kill(runId: string): Promise<msg.KillReport> {
    const grace = this.opts.killGraceMs ?? 5_000;
    const res = await this.call(
      "kill",
      { run_id: runId, grace_ms: grace },
      { argv: this.exec("kill", runId, "--grace", `${grace}ms`, "--json"), parse: (o) => JSON.parse(o) },
      this.opts.commandTimeoutMs + grace + 5_000,
    );
    return toKillReport(res);
  }

  killGroup(runId: string, pgid: number): Promise<{ gone: boolean; note: string }> {
    const grace = this.opts.killGraceMs ?? 5_000;
    return this.call(
      "kill_group",
      { run_id: runId, pid: pgid, grace_ms: grace },
      {
        argv: this.exec("kill-group", runId, "--pid", String(pgid), "--grace", `${grace}ms`, "--json"),
        parse: (o) => JSON.parse(o),
      },
      this.opts.commandTimeoutMs + grace + 5_000,
    );
  }

  abandon(runId: string): Promise<msg.AbandonReport> {
    return this.call(
      "abandon",
      { run_id: runId },
      { argv: this.exec("abandon", runId, "--json"), parse: (o) => JSON.parse(o) },
    );
  }

  readOutput(runId: string, req: msg.ReadOutputRequest): Promise<msg.OutputChunk> {
    const flags = [
      ...(req.offset !== undefined ? ["--offset", String(req.offset)] : []),
      ...(req.limit !== undefined ? ["--limit", String(req.limit)] : []),
      ...(req.tail_lines !== undefined ? ["--tail-lines", String(req.tail_lines)] : []),
      ...(req.wait_ms !== undefined ? ["--wait", `${req.wait_ms}ms`] : []),
    ];
    return this.call(
      "read",
      { run_id: runId, ...req },
      { argv: this.exec("read", runId, ...flags, "--json"), parse: (o) => JSON.parse(o) },
      this.opts.commandTimeoutMs + (req.wait_ms ?? 0),
    );
  }

  prune(req: msg.PruneRequest): Promise<msg.PruneReport> {
    const flags = [
      ...(req.older_than_ms !== undefined ? ["--older-than", `${req.older_than_ms}ms`] : []),
      ...(req.keep !== undefined ? ["--keep", String(req.keep)] : []),
    ];
    return this.call(
      "prune",
      { ...req },
      // The ids go on stdin: a few thousand of them would not fit a command line.
      {
        argv: this.exec("prune", "--runs-stdin", ...flags, "--json"),
        stdin: req.runs.join("\n"),
        parse: (o) => JSON.parse(o),
      },
    );
  }

  resources(): Promise<msg.Resources> {
    return this.call(
      "resources",
      {},
      { argv: this.exec("resources", "--json"), parse: (o) => JSON.parse(o) },
    );
  }

  version(): Promise<string> {
    return this.call("version", {}, { argv: [this.cfg.oyster_bin, "--version"], parse: (o) => o.trim() });
  }

  onRunFinished(cb: (status: msg.RunStatus) => void): void {
    this.finished.push(cb);
  }

  /** Refinement: called when the agent session came back after a drop (reconcile with list()). */
  onReconnected(cb: () => void): void {
    this.reconnected.push(cb);
  }

  /** Open the connection and the agent session now instead of on the first call. */
  async warm(): Promise<void> {
    await this.agent.open();
  }

  /**
   * Install `localPath` as the node's oyster_bin: SFTP to a temp name beside it, chmod 755, rename
   * over the old one (atomic on the node; a running agent keeps its old inode).
   */
  upload(localPath: string): Promise<void> {
    return this.timed("upload", async () => {
      const data = readFileSync(localPath);
      const bin = this.cfg.oyster_bin;
      const dirOf = (p: string) => (p.includes("/") ? p.slice(0, p.lastIndexOf("/")) || "/" : ".");
      const mk = await this.conn.exec(`mkdir -p ${quotePath(dirOf(bin))} && cd && pwd`);
      if (mk.code !== 0)
        throw new TransportError(
          `cannot create the bin dir on node "${this.node}": ${mk.stderr.trim()}`,
          "command",
        );
      // SFTP paths are relative to the login directory, so `~/x` becomes `x`.
      const home = mk.stdout.trim();
      const remote = bin === "~" ? home : bin.startsWith("~/") ? `${home}/${bin.slice(2)}` : bin;
      const tmp = `${remote}.tmp-${randomBytes(6).toString("hex")}`;
      const sftp = await this.conn.sftp();
      try {
        await sftpCall<void>((cb) => sftp.writeFile(tmp, data, { mode: 0o755 }, cb));
        await sftpCall<void>((cb) => sftp.chmod(tmp, 0o755, cb));
        await sftpCall<void>((cb) => sftp.ext_openssh_rename(tmp, remote, cb)).catch(async () => {
          // Servers without posix-rename: remove then rename (not atomic, but rare).
          await sftpCall<void>((cb) => sftp.unlink(remote, cb)).catch(() => {});
          await sftpCall<void>((cb) => sftp.rename(tmp, remote, cb));
        });
      } catch (err) {
        await sftpCall<void>((cb) => sftp.unlink(tmp, cb)).catch(() => {});
        throw new TransportError(
          `upload to node "${this.node}" failed: ${(err as Error).message}`,
          "command",
          { cause: err },
        );
      } finally {
        sftp.end();
      }
      // The running agent is the old binary (its old inode): replace it so requests reach the new one.
      this.agent.recycle();
      this.agentSkipUntil = 0;
    });
  }

  async close(): Promise<void> {
    this.agent.close();
    await this.conn.close();
  }
}

type ReplyOf<Op extends keyof typeof replySchemas> = (typeof replySchemas)[Op] extends { _output: infer T }
  ? T
  : never;

function sftpCall<T>(fn: (cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v as T))));
}

export type { SFTPWrapper };
