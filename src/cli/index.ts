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
    submit: () => import("./submit.ts").then((m) => m.default),
    tasks: () => import("./tasks.ts").then((m) => m.default),
    nodes: () => import("./nodes.ts").then((m) => m.default),
    logs: () => import("./logs.ts").then((m) => m.default),
    run: () => import("./run.ts").then((m) => m.default),
    status: () => import("./status.ts").then((m) => m.default),
    health: () => import("./health.ts").then((m) => m.default),
    drain: () => import("./switches.ts").then((m) => m.drain),
    pause: () => import("./switches.ts").then((m) => m.pause),
    reserve: () => import("./reserve.ts").then((m) => m.default),
    breaker: () => import("./breaker.ts").then((m) => m.default),
    stats: () => import("./stats.ts").then((m) => m.default),
    exec: () => import("./exec.ts").then((m) => m.default),
    supervise: () => import("./supervise.ts").then((m) => m.default),
    store: () => import("./store.ts").then((m) => m.default),
  },
});
