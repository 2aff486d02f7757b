import { defineCommand } from "citty";
import { recordEvent } from "../store/events.ts";
import { getFlag, type SettingKey, setSetting } from "../store/settings.ts";
import { jsonArg, sharedArgs, withExamples } from "./common-args.ts";
import { withStore } from "./config-and-store.ts";
import { usageError } from "./errors.ts";
import { printJson } from "./table.ts";

/**
 * `oyster drain on|off` and `oyster pause on|off`: operator switches kept in the store, so the
 * running controller sees them at its next tick and they survive restarts.
 */
function switchCommand(key: SettingKey, description: string, meaning: string) {
  return withExamples(
    defineCommand({
      meta: { name: key, description },
      args: {
        ...sharedArgs,
        ...jsonArg,
        state: {
          type: "positional",
          required: false,
          description: "on | off (omit to show the current state)",
        },
      },
      async run({ args }) {
        const want = args.state === undefined ? undefined : String(args.state);
        if (want !== undefined && want !== "on" && want !== "off") {
          throw usageError(`expected "on" or "off", got ${JSON.stringify(want)}`);
        }
        const on = await withStore(args, (store) =>
          store.tx((db) => {
            if (want !== undefined && getFlag(db, key) !== (want === "on")) {
              setSetting(db, key, want);
              recordEvent(db, { kind: `${key}_${want}`, source: "cli" });
            }
            return getFlag(db, key);
          }),
        );
        if (args.json) printJson({ [key]: on });
        else process.stdout.write(`${key} is ${on ? "on" : "off"}${on ? ` — ${meaning}` : ""}\n`);
      },
    }),
    [`oyster ${key} on`, `oyster ${key} off`, `oyster ${key} --json`],
  );
}

export const drain = switchCommand(
  "drain",
  "Stop dispatching new tasks (running ones finish)",
  "no new tasks are dispatched; running ones finish",
);
export const pause = switchCommand(
  "pause",
  "Pause dispatch (the billing pause); resume with off",
  "dispatch is paused (reason billing_pause)",
);
