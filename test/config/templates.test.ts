import { describe, expect, test } from "bun:test";
import {
  checkTemplate,
  EXECUTOR_PLACEHOLDERS,
  HOOK_PLACEHOLDERS,
  placeholderEnv,
  scriptSlots,
} from "../../src/config/templates.ts";

const hook = HOOK_PLACEHOLDERS.on_project_complete;

describe("which argv elements are code", () => {
  test("the argument after -c of any shell, also behind env, nice, busybox or a path", () => {
    expect(scriptSlots(["sh", "-c", "x"])).toEqual([{ index: 2, program: 0 }]);
    expect(scriptSlots(["/bin/bash", "-c", "x", "arg0", "a"])).toEqual([{ index: 2, program: 0 }]);
    expect(scriptSlots(["env", "FOO=1", "dash", "-c", "x"])).toEqual([{ index: 4, program: 2 }]);
    expect(scriptSlots(["/usr/bin/env", "zsh", "-c", "x"])).toEqual([{ index: 3, program: 1 }]);
    expect(scriptSlots(["nice", "-n", "5", "busybox", "sh", "-c", "x"])).toEqual([{ index: 6, program: 4 }]);
  });

  test("grouped and extra shell options still find the script: -ec, -o pipefail, --norc, --", () => {
    expect(scriptSlots(["bash", "-ec", "x"])).toEqual([{ index: 2, program: 0 }]);
    expect(scriptSlots(["bash", "-o", "pipefail", "-c", "x"])).toEqual([{ index: 4, program: 0 }]);
    expect(scriptSlots(["bash", "-c", "-o", "pipefail", "x"])).toEqual([{ index: 4, program: 0 }]);
    expect(scriptSlots(["bash", "--norc", "-lc", "x"])).toEqual([{ index: 3, program: 0 }]);
    expect(scriptSlots(["sh", "-c", "--", "x"])).toEqual([{ index: 3, program: 0 }]);
    expect(scriptSlots(["bash", "-euo", "pipefail", "-c", "x"])).toEqual([{ index: 4, program: 0 }]);
  });

  test("interpreters with inline code: python -c, perl -e, node -e", () => {
    expect(scriptSlots(["python3", "-c", "x"])).toEqual([{ index: 2, program: 0 }]);
    expect(scriptSlots(["perl", "-E", "x"])).toEqual([{ index: 2, program: 0 }]);
    expect(scriptSlots(["node", "--eval", "x"])).toEqual([{ index: 2, program: 0 }]);
  });

  test("a shell reading a script file, or a program that is not a shell, runs no inline code", () => {
    expect(scriptSlots(["sh", "./hook.sh", "{project}"])).toEqual([]);
    expect(scriptSlots(["glm-agent", "run", "--spec", "{spec}"])).toEqual([]);
    expect(scriptSlots(["shellcheck", "-c", "x"])).toEqual([]);
    // Conservative: a -c anywhere after python counts, even one meant for the script.
    expect(scriptSlots(["python3", "script.py", "-c", "x"]).length).toBe(1);
  });
});

describe("placeholders inside code are refused", () => {
  test("the issue's repro: {project} in an sh -c hook, with advice naming the variable", () => {
    const [p, ...rest] = checkTemplate(["sh", "-c", "echo {project} done"], hook);
    expect(rest).toEqual([]);
    expect(p!.index).toBe(2);
    expect(p!.message).toContain("{project}");
    expect(p!.message).toContain('"$OYSTER_PROJECT"');
  });

  test("an executor's script that is exactly {command} is the task's own command and allowed", () => {
    expect(checkTemplate(["sh", "-c", "{command}"], EXECUTOR_PLACEHOLDERS, true)).toEqual([]);
    expect(
      checkTemplate(["bash", "-euo", "pipefail", "-c", "{command}"], EXECUTOR_PLACEHOLDERS, true),
    ).toEqual([]);
  });

  test("{command} with other text, or another placeholder, in an executor script is refused", () => {
    const embedded = checkTemplate(["sh", "-c", "cd /w && {command}"], EXECUTOR_PLACEHOLDERS, true);
    expect(embedded).toHaveLength(1);
    expect(embedded[0]!.message).toContain("exactly {command}");
    const two = checkTemplate(["bash", "-c", "run {task_id} {spec}"], EXECUTOR_PLACEHOLDERS, true);
    expect(two[0]!.message).toContain('"$OYSTER_TASK_ID", "$OYSTER_SPEC"');
    // In a hook there is no task command: an exact {command} is not special there.
    expect(checkTemplate(["sh", "-c", "{project}"], hook)).toHaveLength(1);
  });

  test("placeholders as whole arguments, as $1 after the script, or shell variables in braces are fine", () => {
    expect(checkTemplate(["notify-done", "--project", "{project}"], hook)).toEqual([]);
    expect(checkTemplate(["sh", "-c", 'echo "$1" done', "sh", "{project}"], hook)).toEqual([]);
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text, not a JS template
    expect(checkTemplate(["sh", "-c", 'echo "${OYSTER_PROJECT}" ${HOME}'], hook)).toEqual([]);
    // {pending} is not a placeholder of on_project_complete: it is left as text, not substituted.
    expect(checkTemplate(["sh", "-c", "echo {pending}"], hook)).toEqual([]);
  });

  test("python -c with a placeholder is refused like a shell", () => {
    expect(checkTemplate(["python3", "-c", "print('{inbox}')"], HOOK_PLACEHOLDERS.research)).toHaveLength(1);
  });
});

test("every placeholder has its OYSTER_ variable", () => {
  expect(placeholderEnv({ task_id: "t", run_dir: "/r", command: "echo" })).toEqual({
    OYSTER_TASK_ID: "t",
    OYSTER_RUN_DIR: "/r",
    OYSTER_COMMAND: "echo",
  });
});
