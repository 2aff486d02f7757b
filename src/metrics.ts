/**
 * In-memory counters and histograms the controller increments as it works; /metrics renders
 * them (src/server). A scrape never queries for these. Owned by the server area; other areas
 * only call inc/observe.
 */
export type Labels = Record<string, string>;

const key = (labels: Labels) =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(",");

export class Counter {
  readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    const cur = this.values.get(k);
    if (cur) cur.value += by;
    else this.values.set(k, { labels, value: by });
  }
}

export const DEFAULT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Histogram {
  readonly values = new Map<string, { labels: Labels; buckets: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly bounds: number[] = DEFAULT_BUCKETS,
  ) {}
  observe(labels: Labels, seconds: number): void {
    const k = key(labels);
    let cur = this.values.get(k);
    if (!cur) {
      cur = { labels, buckets: this.bounds.map(() => 0), sum: 0, count: 0 };
      this.values.set(k, cur);
    }
    for (let i = 0; i < this.bounds.length; i++) if (seconds <= this.bounds[i]!) cur.buckets[i]!++;
    cur.sum += seconds;
    cur.count++;
  }
}

export const metrics = {
  /** result: success | refused | failed; reason: seeds/004 taxonomy (or "success"). */
  dispatches: new Counter("oyster_dispatches_total", "Dispatch decisions by result and reason"),
  /** node, op: start | list | kill | resources | version | upload | connect */
  sshCommandSeconds: new Histogram("oyster_ssh_command_duration_seconds", "Duration of node commands"),
  loopCycleSeconds: new Histogram("oyster_loop_cycle_duration_seconds", "Duration of loop cycles"),
  /** run outcomes: succeeded | failed | lost | timeout | cancelled */
  runsFinished: new Counter("oyster_runs_finished_total", "Runs that reached a final state"),
  /** reason: wrong_node | unknown_run | task_mismatch — statuses a node sent about runs not its own. */
  runStatusRejected: new Counter(
    "oyster_run_status_rejected_total",
    "Run statuses ignored because the reporting node was not given that run",
  ),
  /** kind: disk_full | io_error — store statements that failed on the disk, not on a bug. */
  storeErrors: new Counter(
    "oyster_store_errors_total",
    "Store statements that failed with a full disk or I/O error",
  ),
};
