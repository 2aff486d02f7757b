import { z } from "zod";
import { parseDuration } from "./duration.ts";

/** A duration string (`500ms`, `2s`, `5m`) parsed to milliseconds. */
export const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === null) {
    ctx.addIssue({ code: "custom", message: `expected a duration like "500ms", "2s" or "5m"` });
    return z.NEVER;
  }
  return ms;
});

export const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "expected a name of letters, digits, '.', '_' or '-'");
