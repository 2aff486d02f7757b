import type { ControllerContext } from "./context.ts";

/** Placeholder until the reaper is built: the controller wires it as a loop already. */
export function createReaper(_ctx: ControllerContext): { tick(cycle: number): Promise<void> } {
  return { tick: async () => {} };
}
