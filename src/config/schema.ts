import { z } from "zod";
import { parseDuration } from "./duration.ts";
import { duration, name } from "./fields.ts";
import { serviceSchema, superviseSchema } from "./services.ts";

export const nodeSchema = z
  .object({
    name,
    transport: z.enum(["local", "ssh"]).default("ssh"),
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    known_hosts: z.string().default("~/.ssh/known_hosts"),
    host_key: z.enum(["strict", "accept-new"]).default("strict"),
    slots: z.number().int().min(0).max(10_000).default(2),
    /** Executors this node can run; absent means every configured executor. */
    executors: z.array(z.string()).optional(),
    oyster_home: z.string().default("~/.oyster"),
    oyster_bin: z.string().default("~/.oyster/bin/oyster"),
    auto_upgrade: z.boolean().default(false),
  })
  .strict()
  .superRefine((n, ctx) => {
    if (n.transport === "ssh" && !n.host) {
      ctx.addIssue({ code: "custom", path: ["host"], message: "an ssh node needs a host" });
    }
  });

/** A named concurrency limit tasks draw from besides node slots (issue 12.5), by executor and/or project. */
export const poolSchema = z
  .object({
    name,
    executor: z.string().min(1).optional(),
    project: z.string().min(1).optional(),
    slots: z.number().int().min(0).max(100_000),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.executor === undefined && p.project === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["executor"],
        message: "a pool selects its tasks by executor, project or both: give at least one",
      });
  });

function uniqueNames(what: string) {
  return (items: { name: string }[], ctx: z.RefinementCtx) => {
    const seen = new Set<string>();
    items.forEach((it, i) => {
      if (seen.has(it.name))
        ctx.addIssue({ code: "custom", path: [i, "name"], message: `duplicate ${what} name "${it.name}"` });
      seen.add(it.name);
    });
  };
}

const loop = (interval: string) =>
  z
    .object({ interval: duration.default(parseDuration(interval)!), unhealthy_after: duration.optional() })
    .strict()
    .prefault({});

export const executorSchema = z
  .object({ command: z.array(z.string()).min(1, "expected a non-empty argv array") })
  .strict();

export const configSchema = z
  .object({
    store: z.string().default("./oyster.db"),
    /** Where the supervisor keeps its control socket and pid files. */
    state_dir: z.string().default("./.oyster"),
    http: z
      .object({
        enabled: z.boolean().default(true),
        host: z.string().default("127.0.0.1"),
        port: z.number().int().min(0).max(65535).default(8090),
        token: z.string().default(""),
        /** Host names (optionally `name:port`) accepted besides the bind address and loopback. */
        allowed_hosts: z.array(z.string().min(1)).default([]),
        /** Require the token and Host check on /health, /ready and /metrics too. */
        guard_probes: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    nodes: z
      .array(nodeSchema)
      .prefault([{ name: "local", transport: "local", slots: 2 }])
      .superRefine((nodes, ctx) => {
        const seen = new Set<string>();
        nodes.forEach((n, i) => {
          if (seen.has(n.name))
            ctx.addIssue({ code: "custom", path: [i, "name"], message: `duplicate node name "${n.name}"` });
          seen.add(n.name);
        });
      }),
    executors: z.record(z.string(), executorSchema).default({}),
    loops: z
      .object({
        scheduler: loop("2s"),
        probe: loop("30s"),
        reaper: loop("60s"),
        guardian: loop("300s"),
        factory: loop("60s"),
      })
      .strict()
      .prefault({}),
    retry: z
      .object({
        max_attempts: z.number().int().min(1).default(3),
        backoff: duration.default(30_000),
        max_backoff: duration.default(30 * 60_000),
        /** How many times the guardian gives a dead task one more attempt when its failure was recoverable. */
        auto_revive: z.number().int().min(0).default(1),
        /**
         * Runs on a node that has not answered this long are declared lost, releasing their task
         * and `modifies` locks though their processes may still run there (0: hold until it answers).
         */
        lost_node_grace: duration.default(30 * 60_000),
      })
      .strict()
      .prefault({}),
    breaker: z
      .object({ failures: z.number().int().min(1).default(3), open_for: duration.default(5 * 60_000) })
      .strict()
      .prefault({}),
    dispatch: z
      .object({
        min_success_rate: z.number().min(0).max(1).default(0.3),
        min_samples: z.number().int().min(1).default(10),
        window: duration.default(3_600_000),
        /** Upper bound of launches per scheduler tick, so one tick stays short. */
        max_per_tick: z.number().int().min(1).default(64),
      })
      .strict()
      .prefault({}),
    resources: z
      .object({
        max_load: z.number().min(0).default(8),
        min_mem_mb: z.number().min(0).default(512),
        max_swap_pct: z.number().min(0).max(100).default(50),
      })
      .strict()
      .prefault({}),
    timeouts: z
      .object({
        /** Cap on a run's timeout when the spec gives none (seeds/002: stuck after 4 h). */
        task_max: duration.default(4 * 3_600_000),
        /** A run without `timeout` may take this many times its estimated_minutes. */
        estimate_factor: z.number().min(1).default(3),
        /** Guardian alerts once per run past this age. */
        long_running: duration.default(4 * 3_600_000),
      })
      .strict()
      .prefault({}),
    ssh: z
      .object({
        connect_timeout: duration.default(10_000),
        command_timeout: duration.default(30_000),
        keepalive: duration.default(15_000),
        /** Parallel node operations per sweep (reaper list, probe). */
        concurrency: z.number().int().min(1).default(32),
      })
      .strict()
      .prefault({}),
    factory: z
      .object({
        inbox: z.string().default("./specs/inbox"),
        min_pending: z.number().int().min(0).default(5),
        generate: z.array(z.string()).default([]),
        generate_timeout: duration.default(10 * 60_000),
        on_project_complete: z.array(z.string()).default([]),
        research: z.array(z.string()).default([]),
        research_interval: duration.default(3_600_000),
      })
      .strict()
      .prefault({}),
    /** Run directories on the nodes (issue 13.8; src/loops/retention.ts). */
    retention: z
      .object({
        /** A finished run's directory goes once it finished longer ago than this (0: never by age). */
        runs: duration.default(7 * 86_400_000),
        /** …or once its node holds more finished runs than this, oldest first (0: no count limit). */
        max_runs_per_node: z.number().int().min(0).default(1000),
        /** How often the reaper prunes. */
        interval: duration.default(3_600_000),
      })
      .strict()
      .prefault({}),
    notify: z
      .object({ webhook: z.string().default(""), timeout: duration.default(2_000) })
      .strict()
      .prefault({}),
    services: z.array(serviceSchema).default([]),
    supervise: superviseSchema,
    pools: z.array(poolSchema).default([]).superRefine(uniqueNames("pool")),
  })
  .strict();

export type Config = z.output<typeof configSchema>;
export type NodeConfig = z.output<typeof nodeSchema>;
export type ExecutorConfig = z.output<typeof executorSchema>;

/**
 * The executors every setup has, merged under the configured ones: `shell` runs the spec's
 * `command`; `glm` is the coding agent the original specs name (seeds/000–002).
 */
export const BUILTIN_EXECUTORS: Record<string, ExecutorConfig> = {
  shell: { command: ["sh", "-c", "{command}"] },
  glm: { command: ["glm-agent", "run", "--spec", "{spec}"] },
};
