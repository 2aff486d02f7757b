import { homedir } from "node:os";
import { join } from "node:path";

/** This user's home: $HOME when set (what a shell would expand `~` to), else the passwd entry. */
export function userHome(): string {
  return process.env.HOME || homedir();
}

/**
 * Expand a leading `~` or `~/` (the only `~` oyster expands: config paths, key and known_hosts
 * files, a node's home); anything else is returned as is.
 */
export function expandHome(p: string, home: string = homedir()): string {
  if (p === "~") return home;
  if (p.startsWith("~/")) return join(home, p.slice(2));
  return p;
}
