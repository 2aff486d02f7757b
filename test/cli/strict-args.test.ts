import { describe, expect, test } from "bun:test";
import { type ArgsDef, defineCommand } from "citty";
import { checkCommandLine, checkTokens, takesMany } from "../../src/cli/strict-args.ts";
import { didYouMean } from "../../src/did-you-mean.ts";

const def = {
  json: { type: "boolean" },
  "dry-run": { type: "boolean" },
  limit: { type: "string" },
  lines: { type: "string", alias: "n" },
  follow: { type: "boolean", alias: "f" },
  id: { type: "positional", required: true },
} as const satisfies ArgsDef;
const where = "oyster x";

describe("one command's tokens", () => {
  test("known flags in every form citty accepts pass, and positionals come back", () => {
    expect(
      checkTokens(
        [
          "a",
          "--json",
          "--dry-run",
          "--dryRun",
          "--no-json",
          "--json=false",
          "--limit",
          "5",
          "--limit=-1",
          "-fn",
          "3",
          "-n5",
        ],
        def,
        { where },
      ),
    ).toEqual(["a"]);
    expect(checkTokens(["--verbose", "--log-format", "json", "--quiet", "a"], def, { where })).toEqual(["a"]);
    expect(checkTokens(["--", "--json"], def, { where })).toEqual(["--json"]);
  });

  test("an unknown flag is a usage error with a did-you-mean", () => {
    expect(() => checkTokens(["--dryrun"], def, { where })).toThrow(
      "unknown flag --dryrun for `oyster x` (did you mean --dry-run?)",
    );
    expect(() => checkTokens(["-x"], def, { where })).toThrow("unknown flag -x");
    let code: number | undefined;
    try {
      checkTokens(["--stauts"], def, { where });
    } catch (err) {
      code = (err as { code: number }).code;
    }
    expect(code).toBe(2);
  });

  test("a value on a switch, a missing value, and a surplus positional are refused", () => {
    expect(() => checkTokens(["--json=maybe"], def, { where })).toThrow(
      "--json is a switch and takes no value",
    );
    expect(() => checkTokens(["--limit"], def, { where })).toThrow("--limit needs a value");
    expect(() => checkTokens(["-n"], def, { where })).toThrow("-n (--lines) needs a value");
    expect(() => checkTokens(["a", "b"], def, { where })).toThrow(
      'unexpected argument "b" for `oyster x` (it takes one ID)',
    );
    expect(checkTokens(["a", "b"], def, { where, many: true })).toEqual(["a", "b"]);
  });
});

describe("the whole command line", () => {
  const show = defineCommand({ meta: { name: "show" }, args: { id: { type: "positional" } } });
  const cancel = takesMany(defineCommand({ meta: { name: "cancel" }, args: { id: { type: "positional" } } }));
  const list = defineCommand({ meta: { name: "list" }, args: { status: { type: "string" } } });
  const root = defineCommand({
    subCommands: {
      tasks: defineCommand({
        args: { status: { type: "string" } },
        subCommands: { list, show, cancel },
        default: "list",
      }),
    },
  });

  test("subcommands, defaults and several ids where a command takes them", async () => {
    await checkCommandLine(root, ["tasks", "--status", "dead"]);
    await checkCommandLine(root, ["tasks", "show", "a"]);
    await checkCommandLine(root, ["--verbose", "tasks", "cancel", "a", "b", "c"]);
  });

  test("an unknown command, a flag before the subcommand it is meant for, a surplus id", async () => {
    await expect(checkCommandLine(root, ["taks"])).rejects.toThrow(
      'unknown command "taks" for `oyster` (did you mean "tasks"?)',
    );
    await expect(checkCommandLine(root, ["tasks", "--stauts", "dead"])).rejects.toThrow(
      "did you mean --status?",
    );
    await expect(checkCommandLine(root, ["tasks", "--status", "x", "show", "a"])).rejects.toThrow(
      "--status must come after the command: `oyster tasks show --status`",
    );
    await expect(checkCommandLine(root, ["tasks", "show", "a", "b"])).rejects.toThrow(
      'unexpected argument "b"',
    );
  });
});

test("did you mean: close names only, ignoring case, dashes and underscores", () => {
  expect(didYouMean("dependson", ["depends_on", "modifies", "priority"])).toBe("depends_on");
  expect(didYouMean("prioirty", ["depends_on", "modifies", "priority"])).toBe("priority");
  expect(didYouMean("modfies", ["depends_on", "modifies", "priority"])).toBe("modifies");
  expect(didYouMean("limit", ["json", "status"])).toBeNull();
});
