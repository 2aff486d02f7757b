import type { z } from "zod";

/**
 * Reading the config schema's shape: which keys exist at a path (for did-you-mean) and every key
 * path with the kind of value it holds (so each has an OYSTER_* variable, derived, never listed
 * by hand). Zod keeps its structure in `_zod.def`; wrappers (default, prefault, optional,
 * nullable, pipe) are looked through.
 */

// Zod's internal definition objects are untyped across schema kinds; this is the one place that reads them.
type Def = {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
  entries?: Record<string, string | number>;
};

const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The schema under its wrappers. */
export function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    const d = defOf(s);
    if (d.innerType && ["default", "prefault", "optional", "nullable", "readonly", "catch"].includes(d.type))
      s = d.innerType;
    else if (d.type === "pipe" && d.in) s = d.in;
    else return s;
  }
}

/** The object keys a path leads to (`["nodes", 0]` → node keys), or null where there is no object. */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] | null {
  let s = unwrap(schema);
  for (const seg of path) {
    const d = defOf(s);
    if (d.type === "object" && d.shape && typeof seg === "string" && d.shape[seg]) s = unwrap(d.shape[seg]);
    else if (d.type === "array" && d.element && typeof seg === "number") s = unwrap(d.element);
    else if (d.type === "record" && d.valueType) s = unwrap(d.valueType);
    else return null;
  }
  const d = defOf(s);
  return d.type === "object" && d.shape ? Object.keys(d.shape) : null;
}

export type LeafKind = "string" | "number" | "boolean" | "duration" | "list" | "map" | "object" | "other";

export interface KeyPath {
  path: string[];
  kind: LeafKind;
  /** The allowed values of an enum key. */
  values?: string[];
}

function kindOf(schema: z.ZodType): LeafKind {
  const outer = defOf(schema);
  const s = unwrap(schema);
  const d = defOf(s);
  if (d.type === "union" && d.options?.some((o) => defOf(unwrap(o)).type === "number")) {
    // `duration` is a union of string and number piped through a parser.
    return outer.type === "pipe" || hasPipe(schema) ? "duration" : "other";
  }
  if (d.type === "string" || d.type === "enum") return "string";
  if (d.type === "number") return "number";
  if (d.type === "boolean") return "boolean";
  if (d.type === "array") return "list";
  if (d.type === "record") return "map";
  if (d.type === "object") return "object";
  return "other";
}

function hasPipe(schema: z.ZodType): boolean {
  let s = schema;
  for (;;) {
    const d = defOf(s);
    if (d.type === "pipe") return true;
    if (d.innerType) s = d.innerType;
    else return false;
  }
}

/** Every key path of the schema, objects and their keys alike, depth first. */
export function keyPaths(schema: z.ZodType, prefix: string[] = []): KeyPath[] {
  const d = defOf(unwrap(schema));
  if (d.type !== "object" || !d.shape) return [];
  const out: KeyPath[] = [];
  for (const [k, v] of Object.entries(d.shape)) {
    const path = [...prefix, k];
    const kind = kindOf(v);
    const entries = defOf(unwrap(v)).type === "enum" ? defOf(unwrap(v)).entries : undefined;
    out.push(entries ? { path, kind, values: Object.values(entries).map(String) } : { path, kind });
    if (kind === "object") out.push(...keyPaths(v, path));
  }
  return out;
}
