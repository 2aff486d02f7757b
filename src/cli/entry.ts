/**
 * The binary's entry point. Nodes start one wrapper per run, often many at once on a busy
 * node, so the exact argv src/node/start.ts builds (`exec wrapper --home HOME RUN_ID`) skips the
 * CLI framework and loads only the wrapper's chunk: 7 ms of CPU per start instead of 15
 * (bench/makespan.ts is CPU-bound on 2 vCPUs). Everything else goes through main.ts.
 */
const argv = process.argv.slice(2);
const plain = (s: string | undefined) => s !== undefined && s !== "" && !s.startsWith("-");
if (
  argv.length === 5 &&
  argv[0] === "exec" &&
  argv[1] === "wrapper" &&
  argv[2] === "--home" &&
  plain(argv[3]) &&
  plain(argv[4])
) {
  void import("../node/wrapper-main.ts").then((m) => m.wrapperMain(argv[3]!, argv[4]!));
} else {
  void import("./main.ts");
}
