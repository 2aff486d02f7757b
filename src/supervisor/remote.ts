import type { Client, ClientChannel } from "ssh2";
import type { NodeConfig } from "../config/schema.ts";
import type { ServiceConfig } from "../config/services.ts";
import { sleep } from "../os/deadline.ts";
import { quote, quotePath } from "../remote/quote.ts";
import { SshConnection } from "../remote/ssh/connection.ts";
import { PROBE_BODY_LIMIT, parseStatusLine } from "./health.ts";
import type { CheckResult, Instance, Runner } from "./instance.ts";
import { LineFramer } from "./lines.ts";
import type { RotatingLog } from "./logfile.ts";

export interface RemoteOptions {
  connectTimeoutMs: number;
  keepaliveMs: number;
  /** Deadline for the small helper commands (clean-up, kill). */
  commandTimeoutMs: number;
}

/** First line the launch wrapper prints on stderr, so we learn the remote process group id. */
const PGID_MARK = "oyster-pgid ";

/**
 * The wrapper that starts a remote service: a new session (so it leads its own process group),
 * its group id in a pid file, then `exec` of the service argv. `setsid -w` waits for the service,
 * so its exit status (sent by sshd at once) is the liveness signal. Only "$@" carries user data.
 */
const LAUNCH_SCRIPT = `echo $$ > "$1" && echo "${PGID_MARK}$$" >&2 && shift && exec "$@"`;

/**
 * Make sure the instance named by a pid file is gone: SIGTERM to its group, wait, SIGKILL,
 * verify. Exit 0 only when no live (non-zombie, where `ps` can tell) process of the group remains. Args: pidfile, wait in tenths of a second.
 */
const KILL_SCRIPT = `f=$1; t=$2
[ -f "$f" ] || exit 0
p=$(cat "$f")
case "$p" in ''|*[!0-9]*) rm -f "$f"; exit 0;; esac
alive() {
  kill -s 0 -- "-$p" 2>/dev/null || return 1
  # Zombies waiting for a slow reaper (a container's PID 1) hold no port: not alive.
  o=$(ps -A -o pgid= -o stat= 2>/dev/null) || return 0
  printf '%s\n' "$o" | awk -v p="$p" '$1 == p && $2 !~ /^Z/ { f = 1 } END { exit !f }'
}
if alive; then
  kill -s TERM -- "-$p" 2>/dev/null
  i=0; while alive && [ "$i" -lt "$t" ]; do sleep 0.1; i=$((i+1)); done
  kill -s KILL -- "-$p" 2>/dev/null
  i=0; while alive && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done
  if alive; then echo "process group $p is still alive after SIGKILL" >&2; exit 1; fi
fi
rm -f "$f"`;

export function remotePidFile(node: NodeConfig, service: string): string {
  const home = node.oyster_home.replace(/\/+$/, "");
  return `${home}/supervise/${service}.pid`;
}

/** The exec line that launches a service on a node (exported for tests of its quoting). */
export function launchCommand(svc: ServiceConfig, pidFile: string): string {
  const dir = pidFile.slice(0, pidFile.lastIndexOf("/"));
  const envArgs = Object.entries(svc.env).map(([k, v]) => quote(`${k}=${v}`));
  const argv = [...(envArgs.length ? ["env", ...envArgs] : []), ...svc.command.map(quote)];
  const cd = svc.cwd ? `cd ${quotePath(svc.cwd)} && ` : "";
  return `mkdir -p ${quotePath(dir)} && ${cd}exec setsid -w sh -c ${quote(LAUNCH_SCRIPT)} sh ${quotePath(pidFile)} ${argv.join(" ")}`;
}

export function killCommand(pidFile: string, waitMs: number): string {
  return `sh -c ${quote(KILL_SCRIPT)} sh ${quotePath(pidFile)} ${Math.max(1, Math.ceil(waitMs / 100))}`;
}

/** Run a short command; resolves with exit code and stderr (a timeout or a lost connection as stderr). */
async function runShort(
  conn: SshConnection,
  cmd: string,
  timeoutMs: number,
): Promise<{ code: number | null; stderr: string }> {
  try {
    const r = await conn.exec(cmd, { timeoutMs });
    return { code: r.code, stderr: r.stderr.trim() };
  } catch (err) {
    return { code: null, stderr: (err as Error).message };
  }
}

/** One HTTP GET through the SSH connection to host:port as the node sees it (its loopback). */
function tunnelCheck(
  conn: Client,
  host: string,
  port: number,
  path: string,
  timeoutMs: number,
): Promise<CheckResult> {
  return new Promise((resolve) => {
    let done = false;
    let stream: ClientChannel | undefined;
    const finish = (r: CheckResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stream?.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: `timeout after ${timeoutMs}ms` }), timeoutMs);
    conn.forwardOut("127.0.0.1", 0, host, port, (err, s) => {
      if (err)
        return finish({
          ok: false,
          reason: /refused/i.test(err.message) ? "connection refused" : err.message,
        });
      stream = s;
      if (done) return s.destroy();
      // The answer is read to its end (HTTP/1.0: the server closes), not cut after the status
      // line: closing early resets the service's socket and some servers log a traceback for it.
      let head = "";
      let status: number | null | undefined;
      let bytes = 0;
      const verdict = (): CheckResult =>
        status === undefined
          ? { ok: false, reason: "connection closed before a response" }
          : status === 200
            ? { ok: true }
            : { ok: false, reason: status ? `HTTP ${status}` : "not HTTP" };
      s.on("data", (d: Buffer) => {
        bytes += d.length;
        if (status === undefined) {
          head += d.toString("latin1");
          const eol = head.indexOf("\r\n");
          if (eol >= 0) status = parseStatusLine(head.slice(0, eol));
          else if (head.length > 8192) status = null;
        }
        if (bytes > PROBE_BODY_LIMIT && status !== undefined) finish(verdict());
      });
      s.on("end", () => finish(verdict()));
      s.on("close", () => finish(verdict()));
      s.on("error", (e: Error) => finish({ ok: false, reason: e.message }));
      s.end(`GET ${path} HTTP/1.0\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`);
    });
  });
}

/**
 * A service on a node over SSH. One connection per service, reopened on demand; before every
 * start the previous instance (named by the pid file on the node) is killed and verified gone,
 * so a dropped connection can never leave two instances running.
 */
export function remoteRunner(
  svc: ServiceConfig,
  node: NodeConfig,
  log: RotatingLog,
  opts: RemoteOptions,
): Runner {
  // The controller's pooled connection (connect on demand, one attempt shared, closed on drop).
  const conn = new SshConnection(node, {
    connectTimeoutMs: opts.connectTimeoutMs,
    keepaliveMs: opts.keepaliveMs,
    commandTimeoutMs: opts.commandTimeoutMs,
  });
  const pidFile = remotePidFile(node, svc.name);
  const target = healthTarget(svc);

  const killOld = async (waitMs: number): Promise<void> => {
    const r = await runShort(conn, killCommand(pidFile, waitMs), waitMs + opts.commandTimeoutMs);
    if (r.code !== 0)
      throw new Error(
        `could not stop the previous instance on node "${node.name}": ${r.stderr || `exit ${r.code}`}`,
      );
  };

  return {
    host: node.name,
    async start(): Promise<Instance> {
      await conn.connect();
      // Never two instances: an instance left over from a dropped connection goes first.
      await killOld(svc.stop_timeout);
      const ch = await conn.openExec(launchCommand(svc, pidFile));
      let pgid: number | null = null;
      let resolvePid: (n: number | null) => void = () => {};
      const pidKnown = new Promise<number | null>((r) => {
        resolvePid = r;
      });
      let errHead = "";
      let code: number | null = null;
      let signal: string | null = null;
      const out = new LineFramer(log, "stdout");
      const err = new LineFramer(log, "stderr");
      ch.on("data", (d: Buffer) => out.push(d));
      ch.stderr.on("data", (d: Buffer) => {
        if (pgid !== null) return err.push(d);
        errHead += d.toString("latin1");
        const eol = errHead.indexOf("\n");
        if (eol < 0) return;
        const line = errHead.slice(0, eol);
        if (line.startsWith(PGID_MARK)) {
          pgid = Number(line.slice(PGID_MARK.length)) || null;
          resolvePid(pgid);
          const rest = errHead.slice(eol + 1);
          if (rest) err.push(Buffer.from(rest, "latin1"));
        } else {
          err.push(Buffer.from(errHead, "latin1"));
          pgid = 0;
          resolvePid(null);
        }
      });
      let stopping: Promise<void> | null = null;
      let closed = false;
      const exited = new Promise<string>((resolve) => {
        const reason = () =>
          code !== null
            ? code > 128
              ? `exit ${code} (signal ${code - 128} on the node)`
              : `exit ${code}`
            : signal
              ? `signal ${signal}`
              : `ssh connection to node "${node.name}" lost`;
        // sshd reports the exit status as soon as \`setsid -w\` returns, i.e. when the service's
        // own process ended, while the channel stays open as long as any child (a daemon, a
        // stray \`cmd &\`) holds stdout/stderr: the exit, not the close, is the death.
        ch.on("exit", (c2: number | null, sig?: string) => {
          code = c2;
          signal = sig ?? null;
          resolvePid(null);
          resolve(reason());
          // As locally: what the service left in its group goes at once (not only before the
          // next start, which a backoff or a stop may put off for long). By group id, not the
          // pid file, which the next instance may already own; the group's members keep the
          // id from being reused until they are gone.
          if (!stopping && !closed && pgid) void runShort(conn, `kill -s KILL -- -${pgid}`, 2_000);
        });
        ch.on("close", () => {
          closed = true;
          out.end();
          err.end();
          resolvePid(null);
          resolve(reason());
        });
      });
      const pid = await Promise.race([pidKnown, sleep(opts.commandTimeoutMs).then(() => null)]);
      return {
        pid,
        exited,
        stop(timeoutMs) {
          stopping ??= (async () => {
            if (!conn.connected) {
              log.note(`node "${node.name}" unreachable: the instance is cleaned up before the next start`);
              return;
            }
            try {
              await killOld(timeoutMs);
            } catch (err) {
              log.note((err as Error).message);
            }
            await Promise.race([exited, sleep(2_000)]);
            ch.close();
          })();
          return stopping;
        },
        kill() {
          if (conn.connected && pid) void runShort(conn, `kill -s KILL -- -${pid}`, 2_000);
        },
      };
    },
    async check(): Promise<CheckResult> {
      if (!target) return { ok: true };
      const c = conn.current;
      if (!c) return { ok: false, reason: `ssh connection to node "${node.name}" is down` };
      return tunnelCheck(c, target.host, target.port, target.path, svc.health?.timeout ?? 2_000);
    },
    async close() {
      await conn.close();
    },
  };
}

/** Where a remote service's health is probed, as seen from the node. */
export function healthTarget(svc: ServiceConfig): { host: string; port: number; path: string } | null {
  const h = svc.health;
  if (!h) return null;
  if (h.url) {
    const u = new URL(h.url);
    const port = Number(u.port) || (u.protocol === "https:" ? 443 : 80);
    return { host: u.hostname, port, path: `${u.pathname}${u.search}` };
  }
  return { host: "127.0.0.1", port: h.port ?? 80, path: h.path };
}
