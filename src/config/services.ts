import { z } from "zod";
import { duration, name } from "./fields.ts";

/**
 * One supervised service (`services:` in oyster.yaml). Owned by src/supervisor.
 * Durations are ms after parsing. Errors carry their path (`services[1].health.interval`).
 */
const healthSchema = z
  .object({
    /** Full URL to probe; or give `port` (+ `path`) to probe 127.0.0.1:port on the service's host. */
    url: z.url({ protocol: /^https?$/, error: "expected an http:// or https:// URL" }).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    path: z.string().startsWith("/", "expected a path starting with /").default("/health"),
    interval: duration.default(10_000).refine((ms) => ms >= 500, "must be at least 500ms"),
    timeout: duration.default(2_000).refine((ms) => ms >= 50, "must be at least 50ms"),
    unhealthy_threshold: z.number().int().min(1).default(3),
    /** Start period: failed checks of a fresh instance do not count until this has passed. */
    grace: duration.default(5_000),
    /**
     * The answer must be this instance's own: its JSON `pid` is the pid the supervisor started
     * (for services that report it, like `oyster run`). Another process answering on the port
     * is not our service being healthy.
     */
    own_pid: z.boolean().default(false),
  })
  .strict()
  .superRefine((h, ctx) => {
    if (!h.url && h.port === undefined)
      ctx.addIssue({
        code: "custom",
        path: ["url"],
        message: "health needs a `url`, or a `port` (and `path`)",
      });
    if (h.url && h.port !== undefined)
      ctx.addIssue({ code: "custom", path: ["port"], message: "give either `url` or `port`, not both" });
  });

const backoffSchema = z
  .object({
    /** First delay of a crash loop; each further failure doubles it. */
    initial: duration.default(1_000),
    max: duration.default(60_000),
    /** Healthy (or, without health checks, up) this long ends a crash loop: the ladder starts over. */
    reset_after: duration.default(10_000),
  })
  .strict()
  .prefault({})
  .superRefine((b, ctx) => {
    if (b.max < b.initial)
      ctx.addIssue({ code: "custom", path: ["max"], message: "must be ≥ backoff.initial" });
  });

const logSchema = z
  .object({
    /** Default `<state_dir>/../logs/<name>.log`, i.e. `logs/<name>.log` next to the config. */
    file: z.string().optional(),
    max_size_mb: z.number().positive().default(10),
    keep: z.number().int().min(0).max(100).default(3),
  })
  .strict()
  .prefault({});

export const serviceSchema = z
  .object({
    name,
    command: z.array(z.string()).min(1, "expected a non-empty argv array"),
    cwd: z.string().optional(),
    env: z.record(z.string(), z.string()).default({}),
    /** Absent: this machine. Otherwise the name of an ssh node in `nodes:`. */
    host: z.string().optional(),
    health: healthSchema.optional(),
    backoff: backoffSchema,
    stop_timeout: duration.default(10_000),
    alert_after_restarts: z.number().int().min(1).default(10),
    log: logSchema,
  })
  .strict();

export type ServiceConfig = z.output<typeof serviceSchema>;

const LOOPBACK = /^(localhost|::1|\[::1\]|127(\.\d{1,3}){3})$/;

/**
 * `supervise:` — the supervisor's own HTTP door (/health, /metrics for Prometheus). Loopback
 * only: it has no token, and what it shows (service names, exits) is for this machine.
 */
export const superviseSchema = z
  .object({
    http: z
      .object({
        enabled: z.boolean().default(true),
        host: z
          .string()
          .default("127.0.0.1")
          .refine((h) => LOOPBACK.test(h), "must be a loopback address (127.0.0.1, ::1 or localhost)"),
        /** 0: any free port; the bound URL is written to `<state_dir>/supervise-http.url`. */
        port: z.number().int().min(0).max(65535).default(0),
        /** Host names (optionally `name:port`) accepted besides loopback names, as http.allowed_hosts. */
        allowed_hosts: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

export type SuperviseConfig = z.output<typeof superviseSchema>;
