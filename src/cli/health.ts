import { defineCommand } from "citty";
import { healthReason } from "../server/health.ts";
import { terminalSafe } from "../terminal-safe.ts";
import { jsonArg, sharedArgs, withExamples } from "./common-args.ts";
import { cliConfig } from "./config-and-store.ts";
import {
  ControllerUnreachable,
  cliToken,
  controllerUrl,
  getJson,
  isHealthBody,
  notOurController,
  urlArg,
} from "./controller-client.ts";
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
      try {
        // /health needs the token only with http.guard_probes; sending it always is harmless.
        const r = await getJson<unknown>(`${base}/health`, timeoutMs, cliToken(config));
        if (!isHealthBody(r.body)) {
          const refused = r.status === 401 || r.status === 403;
          throw new ControllerUnreachable(
            refused
              ? `${base}/health refused this CLI (${r.status}: ${(r.body as { error?: string } | null)?.error ?? "no reason"})`
              : `${base}/health answered ${r.status}, but not as an oyster controller`,
          );
        }
        const foreign = args.url ? null : notOurController(config, r.body, base);
        if (foreign) throw new ControllerUnreachable(foreign);
        if (args.json) printJson(r.body);
        else process.stdout.write(`${terminalSafe(`${healthReason(r.body)} (${base})`)}\n`);
        process.exitCode = r.status === 200 && r.body.status === "healthy" ? 0 : 1;
      } catch (err) {
        if (!(err instanceof ControllerUnreachable)) throw err;
        if (args.json) printJson({ status: "unreachable", error: err.message });
        else process.stdout.write(`unhealthy: ${terminalSafe(err.message)}\n`);
        process.exitCode = 1;
      }
    },
  }),
  [
    "oyster health",
    "oyster health --url http://127.0.0.1:8090 --timeout 2",
    "oyster health --json | jq .loops",
  ],
);
