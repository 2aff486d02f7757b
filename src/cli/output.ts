/**
 * Output that is complete when the process exits. `process.exit` drops what a pipe has not yet
 * taken (Bun: everything past the first 64 KiB), so `oyster tasks --json | cat` of 3,000 tasks
 * came out cut with exit 0. Bun reports neither `writableLength` nor a reliable callback for an
 * empty write, so each stream's write is wrapped once to remember when its last chunk was taken;
 * the exit path awaits that before exiting.
 */
type Write = NodeJS.WriteStream["write"];

const last = new Map<NodeJS.WriteStream, Promise<void>>();

function track(stream: NodeJS.WriteStream): void {
  if (last.has(stream)) return;
  last.set(stream, Promise.resolve());
  const write = stream.write.bind(stream) as (
    chunk: unknown,
    encoding?: BufferEncoding,
    cb?: (err?: Error | null) => void,
  ) => boolean;
  const wrapped = (
    chunk: unknown,
    encodingOrCb?: BufferEncoding | ((err?: Error | null) => void),
    maybeCb?: (err?: Error | null) => void,
  ): boolean => {
    const cb = typeof encodingOrCb === "function" ? encodingOrCb : maybeCb;
    const encoding = typeof encodingOrCb === "string" ? encodingOrCb : undefined;
    // An empty write's callback runs at once, before earlier chunks are taken: not a marker.
    const empty = chunk === undefined || (chunk as { length?: number }).length === 0;
    if (empty) return write(chunk, encoding, cb);
    let taken!: () => void;
    last.set(
      stream,
      new Promise<void>((r) => {
        taken = r;
      }),
    );
    return write(chunk, encoding, (err) => {
      // A reader that went away (EPIPE) has taken all it ever will: nothing left to wait for.
      taken();
      cb?.(err);
    });
  };
  stream.write = wrapped as Write;
}

/** Start remembering stdout's and stderr's last chunk; call once, before anything is printed. */
export function trackOutput(): void {
  track(process.stdout);
  track(process.stderr);
}

/** Resolves when every chunk written to stdout and stderr so far has been taken by the reader. */
export async function outputFlushed(): Promise<void> {
  // Writes made while waiting (a last log line) are waited for too.
  for (;;) {
    const pending = [...last.values()];
    await Promise.all(pending);
    if ([...last.values()].every((p, i) => p === pending[i])) return;
  }
}

/** Exit with `code` once stdout and stderr are drained, so a pipe gets all of the output. */
export async function exitWhenFlushed(code: number): Promise<never> {
  await outputFlushed();
  process.exit(code);
}
