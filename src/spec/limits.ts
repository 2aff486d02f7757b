/**
 * How much one batch of specs may ask of the controller. One table for every door (`oyster
 * submit`, `POST /api/tasks`, the factory inbox), checked on sizes alone, before any parsing, so
 * that a request over a limit costs a length check and not seconds of the event loop.
 */
export const SPEC_LIMITS = {
  /**
   * Specs in one batch. Parsing yields to the loops, but the insert is one transaction (all or
   * nothing) that blocks the controller while it runs: 1,000 tasks take ~15 ms on a loaded
   * 2-vCPU host, 5,000 took 435 ms. Larger sets go in as several batches, in dependency order.
   */
  specsPerBatch: 1_000,
  /** Specs are prompts, not payloads: anything bigger is almost certainly a mistake. */
  specBytes: 1024 * 1024,
  /** All specs of a batch together: the same 8 MiB the HTTP server takes as one request body. */
  batchBytes: 8 * 1024 * 1024,
  /** The YAML between the `---` lines: metadata (ids, deps, paths), never the prompt itself. */
  frontMatterBytes: 64 * 1024,
  /** Keys in one front matter, nested ones included (a spec uses about ten). */
  frontMatterKeys: 100,
} as const;

/** A batch over one of the limits: the HTTP door answers 413 with `message`. */
export interface LimitProblem {
  source: string;
  limit: keyof typeof SPEC_LIMITS;
  message: string;
}

export const utf8Bytes = (text: string): number => Buffer.byteLength(text, "utf8");

/** Whether a batch of this many specs, of these sizes, may be parsed at all. Pure; sizes only. */
export function checkBatchLimits(specs: { source: string; bytes: number }[]): LimitProblem[] {
  const out: LimitProblem[] = [];
  if (specs.length > SPEC_LIMITS.specsPerBatch) {
    out.push({
      source: "(batch)",
      limit: "specsPerBatch",
      message: `too many specs: ${specs.length} (a batch may hold at most ${SPEC_LIMITS.specsPerBatch}; split it)`,
    });
  }
  let total = 0;
  for (const s of specs) {
    total += s.bytes;
    if (s.bytes > SPEC_LIMITS.specBytes) out.push(specTooLarge(s.source, s.bytes));
  }
  if (total > SPEC_LIMITS.batchBytes) {
    out.push({
      source: "(batch)",
      limit: "batchBytes",
      message: `batch too large: ${total} bytes of specs (a batch may hold at most ${SPEC_LIMITS.batchBytes} bytes; split it)`,
    });
  }
  return out;
}

export function specTooLarge(source: string, bytes: number): LimitProblem {
  return {
    source,
    limit: "specBytes",
    message: `too large: ${bytes} bytes (a spec may be at most ${SPEC_LIMITS.specBytes} bytes)`,
  };
}

/**
 * Before `JSON.parse` of a `{"specs":[{"text":…},…]}` body (60k small objects parse in ~80 ms
 * of blocked loop): an upper bound on the number of specs in it, by counting `"text"` tokens.
 * Inside a JSON string every quote is escaped, so each unescaped `"text"` is a key (or a value
 * spelled exactly so); the count never undercounts the specs.
 */
export function jsonSpecCountOver(body: string): LimitProblem | null {
  let n = 0;
  for (let i = body.indexOf('"text"'); i !== -1; i = body.indexOf('"text"', i + 6)) {
    if (++n > SPEC_LIMITS.specsPerBatch)
      return {
        source: "(batch)",
        limit: "specsPerBatch",
        message: `too many specs: more than ${SPEC_LIMITS.specsPerBatch} (a batch may hold at most ${SPEC_LIMITS.specsPerBatch}; split it)`,
      };
  }
  return null;
}
