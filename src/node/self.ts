import { basename, resolve } from "node:path";

/**
 * How to call this same oyster again (for the detached wrapper). The compiled binary is just
 * its own path; from source it is bun + src/cli/main.ts.
 */
export function selfArgv(): string[] {
  const main = typeof Bun !== "undefined" ? Bun.main : "";
  const exe = process.execPath;
  const name = basename(exe);
  if (main.startsWith("/$bunfs/") || main.startsWith("B:/~BUN/") || !/^bun(-debug)?(\.exe)?$/.test(name))
    return [exe];
  return [exe, resolve(import.meta.dir, "../cli/main.ts")];
}
