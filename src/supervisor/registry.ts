import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { logger } from "../log.ts";
import { replacePrivateFile } from "../os/files.ts";

/**
 * `<state_dir>/supervise-services.json`: the local service instances this supervisor runs (pid =
 * pgid, since each leads its own group, and the /proc start time that tells the process from a
 * later one with a recycled pid). Rewritten whole, atomically (0600 temp file, fsync, rename) on
 * every start and exit, so a supervisor restarted after `kill -9` finds exactly what was running.
 */
export const REGISTRY_NAME = "supervise-services.json";

const entry = z.object({
  pid: z.number().int().positive(),
  pgid: z.number().int().positive(),
  /** null off Linux, where the start time cannot be read. */
  starttime: z.number().int().nonnegative().nullable(),
  started_at: z.number(),
});
export type RegistryEntry = z.infer<typeof entry>;

const fileSchema = z.object({
  supervisor: z.object({ pid: z.number().int(), host: z.string(), since: z.string() }),
  services: z.record(z.string(), entry),
});
export type RegistryFile = z.infer<typeof fileSchema>;

export function registryPath(stateDir: string): string {
  return join(stateDir, REGISTRY_NAME);
}

/** What a previous supervisor recorded; null when there is no file. Throws with the path if it is unreadable. */
export function readRegistry(stateDir: string): RegistryFile | null {
  const path = registryPath(stateDir);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`${path} is not JSON (remove it if no service of this supervisor is running)`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success)
    throw new Error(`${path} is not a service registry: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  return parsed.data;
}

export function writeRegistry(stateDir: string, data: RegistryFile): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  replacePrivateFile(registryPath(stateDir), `${JSON.stringify(data)}\n`, { sync: true });
}

/** The live registry of one supervisor: every change is written through at once. */
export class Registry {
  private readonly data: RegistryFile;

  constructor(
    private readonly stateDir: string,
    supervisor: RegistryFile["supervisor"],
  ) {
    this.data = { supervisor, services: {} };
    writeRegistry(stateDir, this.data);
  }

  started(name: string, e: RegistryEntry): void {
    this.data.services[name] = e;
    this.flush();
  }

  gone(name: string, pid: number): void {
    if (this.data.services[name]?.pid !== pid) return;
    delete this.data.services[name];
    this.flush();
  }

  private flush(): void {
    try {
      writeRegistry(this.stateDir, this.data);
    } catch (err) {
      // A full disk must not take the services down; the marker scan still finds them later.
      logger("supervise").warn(
        `cannot record services in ${registryPath(this.stateDir)}: ${(err as Error).message}`,
      );
    }
  }
}
