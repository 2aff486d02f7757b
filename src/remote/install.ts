import { selfArgv } from "../node/self.ts";
import { VERSION_STRING } from "../version.ts";
import type { Transport } from "./transport.ts";

export type InstallResult = { ok: true; version: string } | { ok: false; error: string };

/**
 * Put this controller's own binary on a node (SFTP to a temp file, rename over `oyster_bin`) and
 * confirm the node now reports the controller's version. Used by the guardian's auto_upgrade and
 * by `oyster nodes install`.
 */
export async function installBinary(t: Transport, binary = selfArgv()): Promise<InstallResult> {
  if (!t.upload)
    return { ok: false, error: `node "${t.node}" runs on this host; it already uses this binary` };
  if (binary.length !== 1)
    return {
      ok: false,
      error: "this oyster runs from source; install from the compiled binary (bun scripts/build-binary.ts)",
    };
  try {
    await t.upload(binary[0]!);
    const version = await t.version();
    if (version !== VERSION_STRING)
      return { ok: false, error: `node "${t.node}" still reports ${version} after the upload` };
    return { ok: true, version };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}
