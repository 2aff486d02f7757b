import type { ControllerContext } from "./context.ts";

/** Placeholder until the factory is built: the controller wires it as a loop already. */
export function createFactory(_ctx: ControllerContext): { tick(cycle: number): Promise<void> } {
  return { tick: async () => {} };
}
