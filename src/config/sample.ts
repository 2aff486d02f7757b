/** The commented sample that `oyster init` writes. Every key here is real and validated. */
export const SAMPLE_CONFIG = `# oyster.yaml — every key can be overridden by an OYSTER_* variable,
# e.g. OYSTER_HTTP_PORT=9000 or OYSTER_LOOPS_REAPER_UNHEALTHY_AFTER=5m.
# Durations need a unit: 500ms, 2s, 5m, 1h, 1d (a bare number is refused; 0 alone is fine).

store: ./oyster.db            # the SQLite store (created 0600)

http:
  host: 127.0.0.1             # beyond loopback, reads need the token too
  port: 8090
  token: ""                   # empty: generated into state_dir/http-token on first start
  allowed_hosts: []           # Host names accepted besides the bind address and loopback
  guard_probes: false         # true: /health, /ready, /metrics need the token too
  enabled: true               # false: no HTTP server at all (no /health, /metrics)

nodes:
  - name: local               # runs tasks on this host, no SSH
    transport: local
    slots: 2
  # - name: gpu1
  #   transport: ssh
  #   host: 10.0.0.5
  #   port: 22
  #   user: oyster
  #   key: ~/.ssh/id_ed25519    # omit to use the SSH agent ($SSH_AUTH_SOCK)
  #   known_hosts: ~/.ssh/known_hosts
  #   host_key: strict          # strict | accept-new
  #   slots: 4
  #   executors: [glm, shell]
  #   oyster_home: ~/.oyster    # run directories live here on the node
  #   oyster_bin: ~/.oyster/bin/oyster
  #   auto_upgrade: false       # upload this binary when the node's version differs

executors:
  # Argv templates, exec'd without a shell; each {placeholder} becomes part of one argument.
  # Placeholders: {spec} {run_dir} {output} {task_id} {run_id} {project} {attempt} {priority}
  # {command}; each is also in the environment as OYSTER_<NAME> (OYSTER_TASK_ID, ...).
  # In code a shell runs (sh -c, bash -c, python -c, ...) no placeholder is allowed — read
  # "$OYSTER_PROJECT" there instead — except a script that is exactly {command}, the task's own.
  shell: { command: ["sh", "-c", "{command}"] }
  # glm: { command: ["glm-agent", "run", "--spec", "{spec}"] }

loops:
  # /health turns 503 when a loop's last heartbeat is older than its unhealthy_after
  # (default 2 × interval), e.g. reaper: { interval: 60s, unhealthy_after: 5m }
  scheduler: { interval: 2s }
  probe:     { interval: 30s }
  reaper:    { interval: 60s }
  guardian:  { interval: 300s }
  factory:   { interval: 60s }

# Failed tasks wait backoff × 2^(n-1) (capped) before the next attempt; past max_attempts they are
# dead. auto_revive: how many times the guardian gives a dead task one more attempt when its
# failure was the fleet's fault (lost node, timeout, launch failure), not the task's.
# lost_node_grace: runs on a node silent this long are lost and their tasks run elsewhere, even
# though they may still run there (0: hold them until the node answers).
retry:     { max_attempts: 3, backoff: 30s, max_backoff: 30m, auto_revive: 1, lost_node_grace: 30m }
breaker:   { failures: 3, open_for: 5m }
dispatch:  { min_success_rate: 0.3, min_samples: 10 }
# Pools: concurrency limits tasks draw from besides node slots, by executor and/or project
# (a task needs a free slot in every pool it matches; full: it waits with reason pool_full).
pools: []
# pools:
#   - { name: glm, executor: glm, slots: 4 }     # the model's API takes 4 sessions at once
#   - { name: shop, project: shop, slots: 6 }
resources: { max_load: 8, min_mem_mb: 512, max_swap_pct: 50 }
# A run is stuck (killed, reason timeout) after its spec's timeout, else estimate_factor ×
# estimated_minutes, never more than task_max. The guardian alerts once per run past long_running.
timeouts:  { task_max: 4h, estimate_factor: 3, long_running: 4h }

factory:
  inbox: ./specs/inbox        # spec files dropped here are submitted (→ processed/ or failed/ + .error)
  min_pending: 5
  # Hooks are argv templates like executors. Placeholders {inbox} {pending} {project} are also
  # passed as OYSTER_INBOX, OYSTER_PENDING, OYSTER_PROJECT; inside an sh -c script only the
  # variables are allowed: ["sh", "-c", "echo "$OYSTER_PROJECT" done"]. Spec files they
  # write into the inbox are taken in.
  generate: []                # run when pending tasks < min_pending, e.g. ["./gen-specs", "{inbox}"]
  generate_timeout: 10m       # also bounds on_project_complete and research
  on_project_complete: []     # run once when every task of a project has succeeded
  research: []
  research_interval: 1h

# Finished run directories on the nodes: removed when older than \`runs\` OR beyond the newest
# \`max_runs_per_node\` finished ones (0 turns a limit off); never a run that is not over.
retention: { runs: 7d, max_runs_per_node: 1000, interval: 1h }

notify:
  webhook: ""                 # JSON POST on breaker transitions and alerts

# Services that \`oyster supervise\` keeps alive: restarted at once when they exit, or after
# unhealthy_threshold failed checks in a row; a crash loop waits 1, 2, 4 … 60 s between starts.
# None: it supervises \`oyster run\` itself. \`oyster supervise status|restart|stop|start|logs NAME\`.
services: []
# services:
#   - name: api
#     command: ["./bin/api", "--port", "8080"]  # argv, no shell
#     cwd: ./api                  # relative to this file
#     env: { LOG_LEVEL: info }
#     health: { port: 8080, path: /health, interval: 10s, timeout: 2s, unhealthy_threshold: 3, grace: 5s }
#     backoff: { initial: 1s, max: 60s, reset_after: 10s }  # reset once healthy this long
#     stop_timeout: 10s           # SIGTERM to the process group, then SIGKILL
#     alert_after_restarts: 10    # error log + notify.webhook; it keeps trying
#     log: { file: logs/api.log, max_size_mb: 10, keep: 3 }   # the default file is logs/<name>.log
#   - name: worker
#     host: gpu1                  # an ssh node above: runs there; health is probed through SSH
#     command: ["python3", "worker.py"]
#     health: { url: "http://127.0.0.1:9000/health" }   # as the node sees it
`;
