import { z } from "zod";
import { duration, name } from "./fields.ts";

/** One supervised service (`services:` in oyster.yaml). Owned by src/supervisor. */
export const serviceSchema = z
  .object({
    name,
    command: z.array(z.string()).min(1, "expected a non-empty argv array"),
    cwd: z.string().optional(),
    env: z.record(z.string(), z.string()).default({}),
    host: z.string().optional(),
    health: z
      .object({
        url: z.string().optional(),
        port: z.number().int().min(1).max(65535).optional(),
        path: z.string().default("/health"),
        interval: duration.default(10_000),
        timeout: duration.default(2_000),
        unhealthy_threshold: z.number().int().min(1).default(3),
        grace: duration.default(5_000),
      })
      .strict()
      .optional(),
    stop_timeout: duration.default(10_000),
    alert_after_restarts: z.number().int().min(1).default(10),
  })
  .strict();

export type ServiceConfig = z.output<typeof serviceSchema>;
