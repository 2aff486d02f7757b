import { homedir } from "node:os";
import { join } from "node:path";

/** Expand a leading `~` or `~/` against this process's home (config paths on the controller). */
export function expandHome(p: string, home: string = homedir()): string {
  if (p === "~") return home;
  if (p.startsWith("~/")) return join(home, p.slice(2));
  return p;
}
