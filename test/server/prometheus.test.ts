import { expect, test } from "bun:test";
import { Counter, Histogram } from "../../src/metrics.ts";
import { counterFamily, formatValue, gauge, histogramFamily, render } from "../../src/server/prometheus.ts";

test("render writes HELP and TYPE once per family and escapes label values and help", () => {
  const text = render([
    gauge("x_up", "help with \\ and\nnewline", [{ value: 1 }, { labels: { node: 'a"b\\c\nd' }, value: 0.5 }]),
  ]);
  expect(text).toBe(
    [
      "# HELP x_up help with \\\\ and\\nnewline",
      "# TYPE x_up gauge",
      "x_up 1",
      'x_up{node="a\\"b\\\\c\\nd"} 0.5',
      "",
    ].join("\n"),
  );
});

test("special values use the exposition spellings", () => {
  expect(formatValue(Number.NaN)).toBe("NaN");
  expect(formatValue(Number.POSITIVE_INFINITY)).toBe("+Inf");
  expect(formatValue(Number.NEGATIVE_INFINITY)).toBe("-Inf");
  expect(formatValue(0.25)).toBe("0.25");
});

test("histograms are cumulative with +Inf, _sum and _count", () => {
  const h = new Histogram("t_seconds", "t", [0.1, 1]);
  h.observe({ op: "list" }, 0.05);
  h.observe({ op: "list" }, 0.5);
  h.observe({ op: "list" }, 3);
  const lines = render([histogramFamily(h)])
    .trim()
    .split("\n")
    .slice(2);
  expect(lines).toEqual([
    't_seconds_bucket{op="list",le="0.1"} 1',
    't_seconds_bucket{op="list",le="1"} 2',
    't_seconds_bucket{op="list",le="+Inf"} 3',
    't_seconds_sum{op="list"} 3.55',
    't_seconds_count{op="list"} 3',
  ]);
});

test("counters keep one series per label set", () => {
  const c = new Counter("d_total", "d");
  c.inc({ result: "refused", reason: "slots_full" });
  c.inc({ reason: "slots_full", result: "refused" }, 2);
  c.inc({ result: "success", reason: "success" });
  const f = counterFamily(c);
  expect(f.type).toBe("counter");
  expect(f.samples.map((s) => s.value)).toEqual([3, 1]);
});
