import { defineCommand } from "citty";
import { VERSION } from "../version.ts";

/**
 * The root command. Subcommands load lazily so `oyster exec` on a node and `oyster --help`
 * stay fast. Only commands that work are listed here.
 */
export const main = defineCommand({
  meta: { name: "oyster", version: VERSION, description: "Run coding-agent tasks on a fleet of nodes" },
  subCommands: {
    init: () => import("./init.ts").then((m) => m.default),
  },
});
