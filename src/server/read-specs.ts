import type { SpecInput } from "../spec/intake.ts";
import { jsonSpecCountOver } from "../spec/limits.ts";
import { HttpError } from "./http-error.ts";
import { MAX_BODY_BYTES } from "./serve.ts";

export interface SpecsRequest {
  specs: SpecInput[];
  dryRun: boolean;
  allowMissingDeps: boolean;
  replace: boolean;
  rerunSucceeded: boolean;
}

/**
 * POST /api/tasks takes either one spec as text (Markdown with front matter, `text/markdown`;
 * `?source=` names it) or JSON `{"specs":[{"source","text"}], "dry_run", "allow_missing_deps"}`;
 * `replace` / `rerun_succeeded` (body or `?replace=1`) are `submit --replace [--rerun-succeeded]`.
 * A body that is not one of these throws an HttpError (400, or 413 when too large).
 */
export async function readSpecs(req: Request, kind: "markdown" | "json"): Promise<SpecsRequest> {
  const len = Number(req.headers.get("content-length") ?? 0);
  // Bun.serve enforces the limit on the wire (413); this answers early with a clearer message.
  if (len > MAX_BODY_BYTES) throw new HttpError(413, `body is larger than ${MAX_BODY_BYTES} bytes`);
  const url = new URL(req.url);
  const flag = (name: string) => ["1", "true", "yes"].includes(url.searchParams.get(name) ?? "");
  const text = await req.text();
  if (kind === "markdown") {
    return {
      specs: [{ source: url.searchParams.get("source") || "api", text }],
      dryRun: flag("dry_run"),
      allowMissingDeps: flag("allow_missing_deps"),
      replace: flag("replace"),
      rerunSucceeded: flag("rerun_succeeded"),
    };
  }
  const over = jsonSpecCountOver(text);
  if (over) throw new HttpError(413, over.message);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `body is not valid JSON: ${(err as Error).message}`);
  }
  const b = body as {
    specs?: unknown;
    dry_run?: unknown;
    allow_missing_deps?: unknown;
    replace?: unknown;
    rerun_succeeded?: unknown;
  };
  if (!b || typeof b !== "object" || !Array.isArray(b.specs)) {
    throw new HttpError(400, 'expected {"specs": [{"source": "...", "text": "..."}]}');
  }
  const specs: SpecInput[] = [];
  for (const [i, s] of b.specs.entries()) {
    const e = s as { source?: unknown; text?: unknown };
    if (!e || typeof e.text !== "string") throw new HttpError(400, `specs[${i}].text: expected a string`);
    specs.push({ source: typeof e.source === "string" && e.source ? e.source : `specs[${i}]`, text: e.text });
  }
  return {
    specs,
    dryRun: b.dry_run === true || flag("dry_run"),
    allowMissingDeps: b.allow_missing_deps === true || flag("allow_missing_deps"),
    replace: b.replace === true || flag("replace"),
    rerunSucceeded: b.rerun_succeeded === true || flag("rerun_succeeded"),
  };
}
