import type { Counter, Histogram, Labels } from "../metrics.ts";

/**
 * Prometheus text exposition (format 0.0.4), written by hand: the controller has a handful of
 * families whose values mostly come from the store at scrape time, so a registry library would
 * only add a second place for state. Escaping follows the format spec; `promtool check metrics`
 * runs against this output in the end-to-end tests.
 */
export type MetricType = "counter" | "gauge" | "histogram";

export interface Sample {
  labels?: Labels;
  value: number;
  /** `_bucket`, `_sum`, `_count` for histogram series. */
  suffix?: string;
}

export interface Family {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const escapeHelp = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const NEEDS_ESCAPE = /[\\\n"]/;
const escapeLabel = (s: string) =>
  NEEDS_ESCAPE.test(s) ? s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"') : s;

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(v);
}

function formatLabels(labels: Labels | undefined): string {
  if (!labels) return "";
  const keys = Object.keys(labels);
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k] ?? "")}"`).join(",")}}`;
}

export function render(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples)
      out.push(`${f.name}${s.suffix ?? ""}${formatLabels(s.labels)} ${formatValue(s.value)}`);
  }
  return `${out.join("\n")}\n`;
}

export function gauge(name: string, help: string, samples: Sample[]): Family {
  return { name, help, type: "gauge", samples };
}

export function counterFamily(c: Counter): Family {
  return {
    name: c.name,
    help: c.help,
    type: "counter",
    samples: [...c.values.values()].map((v) => ({ labels: v.labels, value: v.value })),
  };
}

/** Buckets are stored cumulatively by Histogram.observe, as the format wants them. */
export function histogramFamily(h: Histogram): Family {
  const samples: Sample[] = [];
  for (const v of h.values.values()) {
    for (const [i, le] of h.bounds.entries()) {
      samples.push({ suffix: "_bucket", labels: { ...v.labels, le: String(le) }, value: v.buckets[i] ?? 0 });
    }
    samples.push({ suffix: "_bucket", labels: { ...v.labels, le: "+Inf" }, value: v.count });
    samples.push({ suffix: "_sum", labels: v.labels, value: v.sum });
    samples.push({ suffix: "_count", labels: v.labels, value: v.count });
  }
  return { name: h.name, help: h.help, type: "histogram", samples };
}
