/** Let every pending promise reaction run: a macrotask comes only after the microtask queue is empty. */
function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** More timers than this in one `advance` is a loop that never lets time pass (a bug under test). */
const MAX_FIRED = 10_000;

/**
 * A clock that moves only when the test advances it (the shape of `ServiceClock`). `advance` fires
 * the timers that fall due in time order, letting the promise work each one starts settle before
 * the next, so a test asserts the outcome right after it: no real waiting, no polling.
 */
export class FakeClock {
  private t: number;
  private seq = 0;
  private timers: { at: number; seq: number; fn: () => void }[] = [];

  constructor(start = 1_800_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  after(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((x) => x !== timer);
    };
  }

  /** Move `ms` forward (0: only what is due now), running each timer at its own time. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (let fired = 0; ; fired++) {
      if (fired > MAX_FIRED) throw new Error(`more than ${MAX_FIRED} timers fired in one advance(${ms})`);
      await settle();
      let next: (typeof this.timers)[number] | undefined;
      for (const x of this.timers)
        if (x.at <= end && (!next || x.at < next.at || (x.at === next.at && x.seq < next.seq))) next = x;
      if (!next) break;
      const due = next;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
  }
}
