/**
 * OS service definitions that run the supervisor, so it is the one process the OS keeps alive
 * (seeds/001 "single guardian point"). Pure text builders; the CLI passes absolute paths.
 */
export interface UnitOptions {
  /** argv of the supervisor, absolute binary path first. */
  argv: string[];
  workingDirectory: string;
  /** Longest stop_timeout of any service, so the OS waits for a graceful stop before SIGKILL. */
  stopTimeoutMs: number;
  label?: string;
}

/** systemd quoting: double quotes with `\` and `"` escaped, `%` doubled, `$` doubled. */
function systemdQuote(arg: string): string {
  if (/^[A-Za-z0-9_@+=:,./-]+$/.test(arg)) return arg;
  return `"${arg.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%").replace(/\$/g, "$$$$")}"`;
}

/** The head every unit shares: what it is, after the network, and the program it runs. */
function unitHead(description: string, o: { workingDirectory: string; argv: string[] }): string {
  return `[Unit]
Description=${description}
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
WorkingDirectory=${systemdQuote(o.workingDirectory)}
ExecStart=${o.argv.map(systemdQuote).join(" ")}
`;
}

const UNIT_INSTALL = `[Install]
WantedBy=multi-user.target
`;

/** How long the OS waits for the supervisor's own graceful stop: its longest service's, plus 5 s. */
const supervisorStopSec = (o: UnitOptions) => Math.ceil(o.stopTimeoutMs / 1000) + 5;

export function systemdUnit(o: UnitOptions): string {
  return `${unitHead(`oyster supervisor (${o.label ?? "oyster"})`, o)}Restart=always
RestartSec=2
# The supervisor stops its services' process groups itself on SIGTERM; SIGKILL for all only after this.
KillMode=mixed
KillSignal=SIGTERM
TimeoutStopSec=${supervisorStopSec(o)}

${UNIT_INSTALL}`;
}

function xml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function launchdPlist(o: UnitOptions): string {
  const label = o.label ?? "dev.oyster.supervise";
  const args = o.argv.map((a) => `    <string>${xml(a)}</string>`).join("\n");
  const logDir = `${o.workingDirectory.replace(/\/+$/, "")}/logs`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${xml(label)}</string>
  <key>ProgramArguments</key>
  <array>
${args}
  </array>
  <key>WorkingDirectory</key>
  <string>${xml(o.workingDirectory)}</string>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <true/>
  <key>ExitTimeOut</key>
  <integer>${supervisorStopSec(o)}</integer>
  <key>StandardOutPath</key>
  <string>${xml(logDir)}/supervise.out.log</string>
  <key>StandardErrorPath</key>
  <string>${xml(logDir)}/supervise.err.log</string>
</dict>
</plist>
`;
}

/** One service run by systemd itself (`--print-unit systemd --per-service`). */
export interface ServiceUnitOptions {
  name: string;
  argv: string[];
  workingDirectory: string;
  env: Record<string, string>;
  stopTimeoutMs: number;
  /** backoff.initial: systemd's fixed delay between restarts. */
  restartDelayMs: number;
  /** Where the supervisor would write its output; systemd appends to the same file. */
  logFile: string;
  hasHealthCheck: boolean;
  /**
   * `oyster run` itself: the run wrappers of its tasks leave on purpose and must survive a
   * restart of the controller, so systemd stops only the main process (KillMode=process).
   */
  childrenOutlive?: boolean;
}

/** Environment= assignments: `$` is not expanded there (unlike ExecStart), `%` is. */
function envAssignment(key: string, value: string): string {
  return `"${`${key}=${value}`.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%")}"`;
}

export function serviceUnit(o: ServiceUnitOptions): string {
  const env = Object.entries(o.env).map(([k, v]) => `Environment=${envAssignment(k, v)}\n`);
  const health = o.hasHealthCheck
    ? "# systemd does not probe health.url: an unhealthy instance is restarted only by `oyster supervise`.\n"
    : "";
  return `# oyster-${o.name}.service
${unitHead(`oyster service ${o.name}`, o)}${env.join("")}Restart=always
RestartSec=${Math.max(1, Math.ceil(o.restartDelayMs / 1000))}
${
  o.childrenOutlive
    ? "# Only the controller is stopped: its tasks' run wrappers outlive it, as under oyster supervise.\nKillMode=process"
    : "# SIGTERM to the whole group (its children too), SIGKILL after stop_timeout, as oyster supervise does.\nKillMode=control-group"
}
KillSignal=SIGTERM
TimeoutStopSec=${Math.ceil(o.stopTimeoutMs / 1000)}
StandardOutput=append:${o.logFile}
StandardError=append:${o.logFile}
${health}
${UNIT_INSTALL}`;
}
