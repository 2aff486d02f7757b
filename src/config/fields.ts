import { z } from "zod";
import { checkDuration } from "./duration.ts";

/** A duration string (`500ms`, `2s`, `5m`; a bare `0` too) parsed to milliseconds. */
export const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const r = checkDuration(v);
  if ("error" in r) {
    ctx.addIssue({ code: "custom", message: r.error });
    return z.NEVER;
  }
  return r.ms;
});

export const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "expected a name of letters, digits, '.', '_' or '-'");
