import { resolveHome, validateRunId } from "./home.ts";
import { runWrapper } from "./wrapper.ts";

/** `oyster exec wrapper --home HOME RUN_ID` without the CLI framework (see src/cli/entry.ts). */
export async function wrapperMain(home: string, runId: string): Promise<never> {
  try {
    process.exit(await runWrapper(resolveHome(home), validateRunId(runId)));
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
