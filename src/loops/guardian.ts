import type { ControllerContext } from "./context.ts";

/** Placeholder until the guardian is built: the controller wires it as a loop already. */
export function createGuardian(_ctx: ControllerContext): { tick(cycle: number): Promise<void> } {
  return { tick: async () => {} };
}
