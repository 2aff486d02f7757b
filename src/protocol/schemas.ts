import { z } from "zod";
import type { AbandonReport, OutputChunk, PruneReport, Resources, RunStatus } from "./messages.ts";

/**
 * What a node may answer, checked before the controller believes it (a node is a trust boundary:
 * a wrong binary, a shell rc that prints, or a broken disk must not reach the loops as data).
 * Objects are loose so fields a newer node adds pass through unchanged.
 */
const nullableInt = z.number().int().nullable();

export const runStatusSchema = z.looseObject({
  run_id: z.string().min(1),
  task_id: z.string(),
  pid: nullableInt,
  wrapper_pid: nullableInt,
  state: z.enum(["starting", "running", "succeeded", "failed", "killed", "lost"]),
  started_at: z.number(),
  heartbeat_at: z.number(),
  finished_at: z.number().nullable(),
  exit_code: z.number().int().nullable(),
  wrapper_version: z.string(),
});

export const runListSchema = z.array(runStatusSchema);

export const resourcesSchema = z.looseObject({
  load1: z.number(),
  load5: z.number(),
  load15: z.number(),
  mem_total_mb: z.number(),
  mem_avail_mb: z.number(),
  swap_total_mb: z.number(),
  swap_used_pct: z.number(),
  cpus: z.number(),
  platform: z.string(),
});

/** A read reply: base64 capped a little above 256 KiB × 4/3 so a node cannot send more. */
export const outputChunkSchema = z.looseObject({
  run_id: z.string().min(1),
  exists: z.boolean(),
  offset: z.number().int().min(0),
  size: z.number().int().min(0),
  data: z.base64().max(400 * 1024),
  status: runStatusSchema.nullable(),
});

export const pruneReportSchema = z.looseObject({
  removed: z.array(z.string()),
  kept: z.array(z.looseObject({ run_id: z.string(), why: z.string() })),
  missing: z.number().int().min(0),
});

export const versionSchema = z.string().min(1).max(200);

/** One line the agent sends: a reply to a request, or a pushed event. */
export const agentMessageSchema = z.union([
  z.object({ id: z.number().int(), ok: z.literal(true), result: z.unknown() }),
  z.object({ id: z.union([z.number().int(), z.null()]), ok: z.literal(false), error: z.string() }),
  z.object({ event: z.literal("run_finished"), status: runStatusSchema }),
]);

/** The request envelope the agent accepts; the op's own fields are checked by its handler. */
export const agentRequestSchema = z.looseObject({
  id: z.union([z.number(), z.string()]),
  op: z.string(),
});

/** A short, single-line account of why a value failed its schema (for node reasons and logs). */
export function schemaProblem(err: z.ZodError): string {
  const first = err.issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`);
  return first.join("; ") + (err.issues.length > 3 ? ` (+${err.issues.length - 3} more)` : "");
}

export class ReplyError extends Error {
  override name = "ReplyError";
}

/** Parse `value` with `schema` or throw a ReplyError naming what was wrong. */
export function checkReply<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new ReplyError(`invalid ${what} reply: ${schemaProblem(r.error)}`);
  return r.data;
}

/** Schemas by agent op, for replies whose shape the controller relies on. */
export const replySchemas = {
  start: runStatusSchema as z.ZodType<RunStatus>,
  list: runListSchema as z.ZodType<RunStatus[]>,
  resources: resourcesSchema as z.ZodType<Resources>,
  version: versionSchema,
  kill: z.unknown(),
  kill_group: z.looseObject({ gone: z.boolean(), note: z.string() }),
  abandon: z.looseObject({
    abandoned: z.boolean(),
    status: runStatusSchema.nullable(),
    note: z.string(),
  }) as z.ZodType<AbandonReport>,
  ping: z.literal("pong"),
  read: outputChunkSchema as z.ZodType<OutputChunk>,
  prune: pruneReportSchema as z.ZodType<PruneReport>,
} as const;
