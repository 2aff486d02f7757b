import { defineCommand } from "citty";
import { healthReason } from "../server/health.ts";
import { terminalSafe } from "../terminal-safe.ts";
import { jsonArg, sharedArgs, withExamples } from "./common-args.ts";
import { cliConfig } from "./config-and-store.ts";
import { askController, controllerUrl, urlArg } from "./controller-client.ts";
import { printJson } from "./table.ts";

/** For scripts, cron and Kubernetes exec probes: exit 0 healthy, 1 anything else, one line why. */
export default withExamples(
  defineCommand({
    meta: { name: "health", description: "Exit 0 when the controller is healthy, 1 otherwise (prints why)" },
    args: {
      ...sharedArgs,
      ...jsonArg,
      ...urlArg,
      timeout: { type: "string", description: "Seconds to wait for an answer (default 3)" },
    },
    async run({ args }) {
      const { config } = cliConfig(args);
      const base = controllerUrl(config, args.url as string | undefined);
      const timeoutMs = Math.max(0.1, Number(args.timeout ?? 3) || 3) * 1000;
      // /health needs the token only with http.guard_probes; sending it always is harmless.
      const r = await askController<unknown>(
        config,
        base,
        Boolean(args.url),
        "/health",
        timeoutMs,
        (a) => a.body,
      );
      if (!r.ok) {
        if (args.json) printJson({ status: "unreachable", error: r.why });
        else process.stdout.write(`unhealthy: ${terminalSafe(r.why)}\n`);
        process.exitCode = 1;
        return;
      }
      if (args.json) printJson(r.health);
      else process.stdout.write(`${terminalSafe(`${healthReason(r.health)} (${base})`)}\n`);
      process.exitCode = r.status === 200 && r.health.status === "healthy" ? 0 : 1;
    },
  }),
  [
    "oyster health",
    "oyster health --url http://127.0.0.1:8090 --timeout 2",
    "oyster health --json | jq .loops",
  ],
);
