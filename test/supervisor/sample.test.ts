import { describe, expect, test } from "bun:test";
import { parse as parseYaml } from "yaml";
import { parseConfig } from "../../src/config/load.ts";
import { SAMPLE_CONFIG } from "../../src/config/sample.ts";
import { planServices } from "../../src/supervisor/plan.ts";

/** The sample with its commented ssh node and services example switched on. */
function uncommented(): string {
  const out: string[] = [];
  let mode: "node" | "services" | null = null;
  for (const line of SAMPLE_CONFIG.split("\n")) {
    if (line.startsWith("  # - name: gpu1")) mode = "node";
    else if (line === "# services:") mode = "services";
    else if (mode === "node" && !line.startsWith("  # ")) mode = null;
    if (line === "services: []") continue;
    if (mode === "node") out.push(line.replace(/^ {2}# /, "  "));
    else if (mode === "services") out.push(line.replace(/^# ?/, ""));
    else out.push(line);
  }
  return out.join("\n");
}

describe("oyster init's sample config", () => {
  test("parses as it is: no services, so the supervisor would run `oyster run`", () => {
    const config = parseConfig(parseYaml(SAMPLE_CONFIG), "sample");
    expect(config.services).toEqual([]);
    const plan = planServices(config, "/srv/app/oyster.yaml", "/srv/app");
    expect(plan.map((p) => p.cfg.name)).toEqual(["oyster-run"]);
  });

  test("its commented services example is valid: a local and a remote service", () => {
    const text = uncommented();
    expect(text).toContain("\nservices:\n  - name: api");
    const config = parseConfig(parseYaml(text), "sample");
    const plan = planServices(config, "/srv/app/oyster.yaml", "/srv/app");
    const [api, worker] = plan;
    expect(api?.cfg.name).toBe("api");
    expect(api?.cfg.cwd).toBe("/srv/app/api");
    expect(api?.healthUrl).toBe("http://127.0.0.1:8080/health");
    expect(api?.logFile).toBe("/srv/app/logs/api.log");
    expect(api?.node).toBeNull();
    expect(api?.cfg.backoff).toEqual({ initial: 1_000, max: 60_000, reset_after: 10_000 });
    expect(worker?.node?.name).toBe("gpu1");
    expect(worker?.cfg.health?.url).toBe("http://127.0.0.1:9000/health");
  });
});
