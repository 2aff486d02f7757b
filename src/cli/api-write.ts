import type { ArgDef } from "citty";
import type { Config } from "../config/schema.ts";
import { formatProblem, type SpecInput } from "../spec/intake.ts";
import type { SpecProblem } from "../spec/parse.ts";
import { cliConfig } from "./config-and-store.ts";
import { ControllerUnreachable, cliToken, controllerUrl, postJson } from "./controller-client.ts";
import { CliError } from "./errors.ts";
import { printJson } from "./table.ts";

/**
 * `submit`, `tasks cancel` and `tasks retry` write the store directly by default; with `--api`
 * (or `--url`) they go through a running controller's API instead, with the CLI's token, so
 * they work against a controller whose store this host cannot open.
 */
export const apiWriteArgs = {
  api: {
    type: "boolean",
    description: "Go through the running controller's API (token from the state dir or OYSTER_HTTP_TOKEN)",
  },
  url: {
    type: "string",
    description: "Controller base URL for --api (default: as `oyster status` finds it)",
  },
} as const satisfies Record<string, ArgDef>;

export const wantsApi = (args: { api?: boolean; url?: string }) => Boolean(args.api || args.url);

/** The base URL and token for one API call, or advice when there is no token to send. */
function target(config: Config, explicit: string | undefined): { base: string; token: string } {
  const base = controllerUrl(config, explicit);
  const token = cliToken(config);
  if (!token) {
    throw new CliError(
      `no API token: set OYSTER_HTTP_TOKEN or http.token, or start \`oyster run\` once from this state_dir (${config.state_dir}) so it generates one`,
    );
  }
  return { base, token };
}

async function post<T>(config: Config, explicit: string | undefined, path: string, body?: unknown) {
  const { base, token } = target(config, explicit);
  try {
    return { base, ...(await postJson<T>(`${base}${path}`, body, token)) };
  } catch (err) {
    if (err instanceof ControllerUnreachable) throw new CliError(err.message, 1, { cause: err });
    throw err;
  }
}

function refused(base: string, status: number, body: { error?: string; message?: string } | null): never {
  const why = body?.message ?? body?.error ?? "no reason given";
  if (status === 401)
    throw new CliError(`${base} refused the API token (401: ${why}); is this the controller of this config?`);
  throw new CliError(`${base} answered ${status}: ${why}`);
}

export interface ApiSubmitResult {
  ok: boolean;
  dry_run: boolean;
  accepted: string[];
  /** Of `accepted`, those that replaced stored tasks (`--replace`). */
  replaced: string[];
  problems: SpecProblem[];
  url: string;
}

/** POST the whole batch as JSON; the controller accepts it whole or not at all. */
export async function submitViaApi(
  config: Config,
  explicit: string | undefined,
  inputs: SpecInput[],
  opts: { dryRun: boolean; allowMissingDeps: boolean; replace?: boolean; rerunSucceeded?: boolean },
): Promise<ApiSubmitResult> {
  const r = await post<{
    ok?: boolean;
    accepted?: string[];
    replaced?: string[];
    problems?: SpecProblem[];
    error?: string;
  }>(config, explicit, "/api/tasks", {
    specs: inputs,
    dry_run: opts.dryRun,
    allow_missing_deps: opts.allowMissingDeps,
    replace: Boolean(opts.replace),
    rerun_succeeded: Boolean(opts.rerunSucceeded),
  });
  if (r.status === 422 && Array.isArray(r.body?.problems))
    return {
      ok: false,
      dry_run: opts.dryRun,
      accepted: [],
      replaced: [],
      problems: r.body.problems,
      url: r.base,
    };
  if ((r.status === 200 || r.status === 201) && Array.isArray(r.body?.accepted))
    return {
      ok: true,
      dry_run: opts.dryRun,
      accepted: r.body.accepted,
      replaced: Array.isArray(r.body.replaced) ? r.body.replaced : [],
      problems: [],
      url: r.base,
    };
  return refused(r.base, r.status, r.body);
}

/** POST /api/tasks/ID/cancel|retry; returns the state the task left. */
export async function changeViaApi(
  config: Config,
  explicit: string | undefined,
  id: string,
  action: "cancel" | "retry",
): Promise<{ from: string; to: string; node?: string }> {
  const r = await post<{ ok?: boolean; from?: string; to?: string; node?: string; error?: string }>(
    config,
    explicit,
    `/api/tasks/${encodeURIComponent(id)}/${action}`,
  );
  if (r.status === 200 && r.body?.ok && r.body.from && r.body.to)
    return { from: r.body.from, to: r.body.to, ...(r.body.node ? { node: r.body.node } : {}) };
  if (r.status === 404 || r.status === 409)
    throw new CliError(r.body?.error ?? `${action} refused (${r.status})`);
  return refused(r.base, r.status, r.body);
}

/** `oyster submit --api`: refuse locally broken batches before sending, print like the store path. */
export async function submitThroughApi(
  args: {
    config?: string;
    url?: string;
    json?: boolean;
    "dry-run"?: boolean;
    "allow-missing-deps"?: boolean;
    replace?: boolean;
    "rerun-succeeded"?: boolean;
  },
  inputs: SpecInput[],
  local: SpecProblem[],
): Promise<void> {
  const dryRun = Boolean(args["dry-run"]);
  const r = local.length
    ? { ok: false, dry_run: dryRun, accepted: [], replaced: [], problems: local, url: "" }
    : await submitViaApi(cliConfig(args).config, args.url, inputs, {
        dryRun,
        allowMissingDeps: Boolean(args["allow-missing-deps"]),
        replace: Boolean(args.replace),
        rerunSucceeded: Boolean(args["rerun-succeeded"]),
      });
  if (args.json) {
    printJson({ ...r, accepted: r.accepted.map((task_id) => ({ task_id })) });
    if (!r.ok) process.exitCode = 1;
    return;
  }
  if (!r.ok) {
    const lines = r.problems.map((p) => `  ${formatProblem(p)}`).join("\n");
    throw new CliError(`batch refused, nothing was submitted (${r.problems.length} problem(s)):\n${lines}`);
  }
  process.stdout.write(
    dryRun
      ? `dry run: ${r.accepted.length} task(s) would be submitted through ${r.url}: ${r.accepted.join(", ")}\n`
      : `submitted ${r.accepted.length} task(s) through ${r.url}: ${r.accepted.join(", ")}${r.replaced.length ? ` (replaced: ${r.replaced.join(", ")})` : ""}\n`,
  );
}
