import { isScalar, parseDocument, visit } from "yaml";
import { z } from "zod";
import { checkDuration } from "../config/duration.ts";
import { suggestion } from "../did-you-mean.ts";
import { normalizeModifiesPath } from "../dispatch/paths.ts";
import { SPEC_LIMITS, specTooLarge, utf8Bytes } from "./limits.ts";

/**
 * A task spec: Markdown with YAML front matter (seeds/000–002). Parsing is pure: text in,
 * a spec or every problem with the file in.
 */
export interface TaskSpec {
  task_id: string;
  project: string;
  priority: number;
  estimated_minutes: number | null;
  depends_on: string[];
  modifies: string[];
  executor: string;
  timeout_ms: number | null;
  max_attempts: number | null;
  command: string | null;
  body: string;
  source: string;
  /** Keys under the user namespace (`x-…`), kept as written and shown by `tasks show`. */
  extra?: Record<string, unknown>;
}

/** Front-matter keys of the user's own tools: kept, never interpreted by oyster. */
export const USER_KEY_PREFIX = "x-";

export interface SpecProblem {
  source: string;
  field?: string;
  message: string;
}

export const MAX_SPEC_BYTES = SPEC_LIMITS.specBytes;

const TASK_ID = z
  .string()
  .min(1, "must not be empty")
  .max(200, "must be at most 200 characters")
  .refine((s) => !s.includes("/") && !s.includes("\\"), "must not contain '/' or '\\'")
  .refine((s) => s !== "." && s !== ".." && !s.includes(".."), "must not contain '..'")
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), "must not contain control characters")
  .refine((s) => s.trim() === s, "must not start or end with whitespace");

const stringList = z.array(z.string().min(1, "entries must not be empty"));

const frontMatter = z
  .object({
    task_id: z.union([TASK_ID, z.number().transform(String)]),
    project: z.string().default(""),
    priority: z.number().int("must be a whole number").min(0, "must be ≥ 0").default(5),
    estimated_minutes: z.number().positive("must be > 0").nullable().default(null),
    depends_on: stringList
      .nullable()
      .default([])
      .transform((v) => v ?? []),
    modifies: stringList
      .nullable()
      .default([])
      .transform((v) => v ?? []),
    executor: z.string().min(1).default("shell"),
    timeout: z
      .union([z.string(), z.number()])
      .optional()
      .transform((v, ctx) => {
        if (v === undefined) return null;
        const r = checkDuration(v);
        if ("error" in r || r.ms <= 0) {
          ctx.addIssue({
            code: "custom",
            message: "error" in r ? r.error : `must be more than 0 (leave it out for the default)`,
          });
          return z.NEVER;
        }
        return r.ms;
      }),
    max_attempts: z.number().int("must be a whole number").min(1, "must be ≥ 1").nullable().default(null),
    command: z.string().nullable().default(null),
  })
  // Unknown keys are refused by unknownKeyProblems (with did-you-mean), not silently dropped:
  // a `dependson:` typo used to lose the task's dependencies.
  .passthrough();

const KNOWN_KEYS = Object.keys(frontMatter.shape);

/** A key that is neither a field nor under `x-`: a typo until proven otherwise. */
export function unknownKeyProblems(raw: Record<string, unknown>, source: string): SpecProblem[] {
  return Object.keys(raw)
    .filter((k) => !KNOWN_KEYS.includes(k) && !k.startsWith(USER_KEY_PREFIX))
    .map((k) => ({
      source,
      field: k,
      message: `unknown key${suggestion(k, KNOWN_KEYS)}; keys for your own tools go under "${USER_KEY_PREFIX}" (x-${k.replace(/^x-/, "")})`,
    }));
}

/** Split `---\n yaml \n---\n body`; null when the text does not start with front matter. */
export function splitFrontMatter(text: string): { yaml: string; body: string } | null {
  const t = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const m = /^---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/.exec(t);
  if (!m) return null;
  return { yaml: m[1] ?? "", body: t.slice(m[0].length) };
}

export function parseSpecText(
  text: string,
  source: string,
): { spec: TaskSpec } | { problems: SpecProblem[] } {
  const parts = splitFrontMatter(text);
  if (!parts) {
    return {
      problems: [
        {
          source,
          message:
            "no YAML front matter (expected the file to start with a line '---', then task_id: …, then '---')",
        },
      ],
    };
  }
  const fm = parseFrontMatter(parts.yaml);
  if ("problem" in fm) return { problems: [{ source, message: fm.problem }] };
  const raw = fm.value;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return { problems: [{ source, message: "front matter must be a mapping of fields (task_id: …)" }] };
  }
  if (!("task_id" in raw) || (raw as { task_id: unknown }).task_id == null) {
    return { problems: [{ source, field: "task_id", message: "missing (every spec needs a task_id)" }] };
  }
  const unknown = unknownKeyProblems(raw as Record<string, unknown>, source);
  const r = frontMatter.safeParse(raw, { reportInput: true });
  if (!r.success || unknown.length) {
    return {
      problems: [...unknown, ...(r.success ? [] : r.error.issues)].map((i) => {
        if ("source" in i) return i;
        const input = "input" in i ? i.input : undefined;
        const got =
          i.code !== "custom" && (input === null || ["string", "number", "boolean"].includes(typeof input))
            ? ` (got ${JSON.stringify(input)})`
            : "";
        return { source, field: i.path.join(".") || undefined, message: `${i.message}${got}` };
      }),
    };
  }
  const d = r.data;
  const extra = Object.fromEntries(Object.entries(raw).filter(([k]) => k.startsWith(USER_KEY_PREFIX)));
  return {
    spec: {
      task_id: d.task_id,
      project: d.project,
      priority: d.priority,
      estimated_minutes: d.estimated_minutes,
      depends_on: [...new Set(d.depends_on)],
      modifies: [...new Set(d.modifies.map(normalizeModifiesPath))],
      executor: d.executor,
      timeout_ms: d.timeout,
      max_attempts: d.max_attempts,
      command: d.command,
      body: parts.body,
      source,
      ...(Object.keys(extra).length ? { extra } : {}),
    },
  };
}

/**
 * YAML to a value in time linear in its size. The `yaml` package's duplicate-key check compares
 * every key with every other (40k keys: minutes), so it is off, and this counts the keys itself
 * and refuses duplicates with a Set per mapping, once the count is known to be small.
 */
export function parseFrontMatter(yaml: string): { value: unknown } | { problem: string } {
  const bytes = utf8Bytes(yaml);
  if (bytes > SPEC_LIMITS.frontMatterBytes)
    return {
      problem: `front matter too large: ${bytes} bytes (at most ${SPEC_LIMITS.frontMatterBytes}; the prompt goes below the closing '---')`,
    };
  const doc = parseDocument(yaml, { uniqueKeys: false });
  const err = doc.errors[0];
  if (err) return { problem: `front matter is not valid YAML: ${err.message.split("\n")[0]}` };
  let keys = 0;
  let duplicate: string | null = null;
  visit(doc, {
    Map(_, map) {
      keys += map.items.length;
      if (keys > SPEC_LIMITS.frontMatterKeys) return visit.BREAK;
      const seen = new Set<string>();
      for (const pair of map.items) {
        const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (seen.has(k)) {
          duplicate = k;
          return visit.BREAK;
        }
        seen.add(k);
      }
      return undefined;
    },
  });
  if (keys > SPEC_LIMITS.frontMatterKeys)
    return {
      problem: `front matter has too many keys: more than ${SPEC_LIMITS.frontMatterKeys} (the limit, nested keys included)`,
    };
  if (duplicate !== null)
    return {
      problem: `front matter is not valid YAML: map keys must be unique (${JSON.stringify(duplicate)})`,
    };
  try {
    return { value: doc.toJS({ maxAliasCount: 100 }) };
  } catch (e) {
    return { problem: `front matter is not valid YAML: ${(e as Error).message.split("\n")[0]}` };
  }
}

/** Decode bytes as strict UTF-8 and refuse what is plainly not text. */
export function decodeSpec(
  bytes: Uint8Array,
  source: string,
): { text: string } | { problems: SpecProblem[] } {
  if (bytes.byteLength > SPEC_LIMITS.specBytes) {
    const { message } = specTooLarge(source, bytes.byteLength);
    return { problems: [{ source, message }] };
  }
  if (bytes.includes(0))
    return { problems: [{ source, message: "binary data (NUL bytes), expected a UTF-8 text file" }] };
  try {
    return { text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    return { problems: [{ source, message: "not valid UTF-8 text" }] };
  }
}
