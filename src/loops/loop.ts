import { logger } from "../log.ts";
import { sleep } from "../os/deadline.ts";
import { storeFault } from "../store/fault.ts";

/**
 * Runs one named loop on an interval: never overlaps itself, catches and logs its own errors,
 * and records heartbeat / cycles / duration / last error for /health and /metrics.
 */
export interface LoopStatus {
  name: string;
  interval_ms: number;
  unhealthy_after_ms: number;
  cycles: number;
  errors: number;
  running: boolean;
  started_at: number | null;
  /** Set at the end of every cycle, failed or not: it proves the loop is turning. */
  last_heartbeat: number | null;
  last_duration_ms: number | null;
  last_error: string | null;
  last_error_at: number | null;
}

export interface LoopOptions {
  name: string;
  intervalMs: number;
  /** Default: 2 × interval (seeds/000). */
  unhealthyAfterMs?: number;
  tick: (cycle: number) => Promise<void> | void;
  /** Observers (metrics histogram) get each cycle's duration. */
  onCycle?: (name: string, durationMs: number, ok: boolean) => void;
  now?: () => number;
}

export interface Loop {
  readonly name: string;
  status(): LoopStatus;
  start(): void;
  /** Stop scheduling new cycles and wait (bounded) for the current one. Safe to call twice. */
  stop(timeoutMs?: number): Promise<void>;
  /** Run one cycle now (tests; also used to wake the scheduler early). Never overlaps. */
  tick(): Promise<void>;
  /** Run the next cycle as soon as the current one is done, instead of after the interval. */
  wake(): void;
}

export function createLoop(opts: LoopOptions): Loop {
  const log = logger(opts.name);
  const now = opts.now ?? Date.now;
  const st: LoopStatus = {
    name: opts.name,
    interval_ms: opts.intervalMs,
    unhealthy_after_ms: opts.unhealthyAfterMs ?? opts.intervalMs * 2,
    cycles: 0,
    errors: 0,
    running: false,
    started_at: null,
    last_heartbeat: null,
    last_duration_ms: null,
    last_error: null,
    last_error_at: null,
  };
  let timer: ReturnType<typeof setTimeout> | null = null;
  let current: Promise<void> | null = null;
  let stopped = true;
  let woken = false;

  const runCycle = async (): Promise<void> => {
    const t0 = performance.now();
    const cycle = st.cycles + 1;
    let ok = true;
    try {
      await opts.tick(cycle);
    } catch (err) {
      ok = false;
      st.errors++;
      const msg = err instanceof Error ? err.message : String(err);
      const fault = storeFault(err);
      st.last_error = fault ? `store ${fault}: ${msg}` : msg;
      st.last_error_at = now();
      // A full disk fails every cycle until space returns: the store logs the fault once, and
      // each cycle only says it will be retried, without a stack.
      if (fault)
        log.warn(`cycle ${cycle} not done, store ${fault} (retried next tick): ${msg}`, { loop: opts.name });
      else {
        log.error(`cycle ${cycle} failed: ${st.last_error}`, { loop: opts.name });
        log.debug(err);
      }
    }
    const dur = performance.now() - t0;
    st.cycles = cycle;
    st.last_duration_ms = dur;
    st.last_heartbeat = now();
    opts.onCycle?.(opts.name, dur, ok);
  };

  const tick = (): Promise<void> => {
    if (current) return current;
    current = runCycle().finally(() => {
      current = null;
      schedule();
    });
    return current;
  };

  const schedule = () => {
    if (stopped) return;
    if (timer) clearTimeout(timer);
    const delay = woken ? 0 : opts.intervalMs;
    woken = false;
    timer = setTimeout(() => {
      timer = null;
      void tick();
    }, delay);
  };

  return {
    name: opts.name,
    status: () => ({ ...st }),
    start() {
      if (!stopped) return;
      stopped = false;
      st.running = true;
      st.started_at = now();
      st.last_heartbeat = now();
      timer = setTimeout(() => {
        timer = null;
        void tick();
      }, 0);
    },
    async stop(timeoutMs = 8_000) {
      stopped = true;
      st.running = false;
      if (timer) clearTimeout(timer);
      timer = null;
      if (current) {
        await Promise.race([current, sleep(timeoutMs)]);
      }
    },
    tick,
    wake() {
      if (current) {
        woken = true;
        return;
      }
      if (stopped) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        void tick();
      }, 0);
    },
  };
}
