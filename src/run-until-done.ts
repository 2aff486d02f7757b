import type { Config } from "./config/schema.ts";
import type { Controller } from "./controller.ts";
import { logger } from "./log.ts";
import { RECOVERABLE } from "./loops/guardian.ts";
import { revivable } from "./store/healing.ts";
import {
  type Endings,
  endings,
  isSettled,
  type Progress,
  progress as readProgress,
} from "./store/progress.ts";

/** The whole graceful shutdown must fit in this; a second signal exits at once with 130. */
export const SHUTDOWN_TIMEOUT_MS = 10_000;
const PROGRESS_EVERY_MS = 1_000;
/** Shell convention 128 + signal number: a script sees `--until-done` was interrupted, not done. */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

export interface UntilDoneOptions {
  /** Stop once every task is final (and no dead task waits for a revival); exit 1 if any did not succeed. */
  untilDone: boolean;
  /** Every second while running (with untilDone or --progress): the fleet's progress. */
  onProgress?: (p: Progress) => void;
  /** Once, when untilDone found everything final: how the tasks ended, or why that was not read. */
  onSettled?: (p: Progress, ended: Endings | Error) => void;
}

/**
 * Keep a started controller running until a signal (graceful stop, bounded by
 * SHUTDOWN_TIMEOUT_MS; a second signal exits at once) or, with `untilDone`, until the work is
 * done. Resolves with the process's exit code once the controller has stopped.
 */
export function runUntilDone(
  controller: Controller,
  config: Config,
  opts: UntilDoneOptions,
): Promise<number> {
  const log = logger("run");
  const { untilDone, onProgress } = opts;
  let exitCode = 0;
  return new Promise<number>((resolve) => {
    const done = () => resolve(exitCode);
    let signals = 0;
    const onSignal = (sig: string) => {
      signals++;
      if (signals > 1) {
        log.warn(`second ${sig}: exiting now`);
        process.exit(130);
      }
      log.info(`${sig}: shutting down (at most ${SHUTDOWN_TIMEOUT_MS / 1000} s)`);
      // The work is not done: never report success. A plain `oyster run` stopped by its
      // service manager is a normal stop and keeps exit 0.
      if (untilDone) exitCode = SIGNAL_EXIT[sig] ?? 1;
      const deadline = setTimeout(() => {
        log.error("shutdown took too long; exiting");
        process.exit(1);
      }, SHUTDOWN_TIMEOUT_MS);
      controller.stop().then(() => {
        clearTimeout(deadline);
        done();
      });
    };
    process.on("SIGINT", () => onSignal("SIGINT"));
    process.on("SIGTERM", () => onSignal("SIGTERM"));

    if (!onProgress && !untilDone) return;
    const store = controller.ctx.store;
    const timer = setInterval(() => {
      if (controller.state.shuttingDown) return clearInterval(timer);
      let p: Progress;
      let waitingRevival = 0;
      try {
        p = store.read((db) => readProgress(db));
        // A dead task the guardian will revive can still make progress: wait for it.
        waitingRevival = store.read((db) => revivable(db, RECOVERABLE, config.retry.auto_revive).length);
      } catch (err) {
        // A store in fault (full disk) is reported by /health; progress resumes with it.
        log.debug(`progress not read: ${(err as Error).message}`);
        return;
      }
      onProgress?.(p);
      if (untilDone && isSettled(p) && waitingRevival === 0) {
        clearInterval(timer);
        const bad = (p.counts.dead ?? 0) + (p.counts.blocked ?? 0);
        exitCode = bad > 0 ? 1 : 0;
        let ended: Endings | Error;
        try {
          ended = store.read((db) => endings(db));
        } catch (err) {
          ended = err as Error;
        }
        opts.onSettled?.(p, ended);
        controller.stop().then(done);
      }
    }, PROGRESS_EVERY_MS);
  });
}
