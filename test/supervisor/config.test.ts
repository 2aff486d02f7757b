import { describe, expect, test } from "bun:test";
import { ConfigError, parseConfig } from "../../src/config/load.ts";

function errorOf(raw: unknown): string {
  try {
    parseConfig(raw, "oyster.yaml");
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error("expected a config error");
}

describe("services config errors", () => {
  test("name the key and the service", () => {
    const msg = errorOf({
      services: [
        { name: "a", command: ["x"] },
        { name: "b", command: ["x"], health: { port: 80, interval: "100ms" } },
      ],
    });
    expect(msg).toContain('services[1].health.interval (service "b"): must be at least 500ms');
  });

  test("a service without a usable name is named by its index only", () => {
    const msg = errorOf({ services: [{ command: [] }] });
    expect(msg).toContain("services[0].name");
    expect(msg).toContain("services[0].command: expected a non-empty argv array");
    expect(msg).not.toContain("(service");
  });

  test("health needs a url or a port; unknown keys are refused", () => {
    const msg = errorOf({
      services: [{ name: "api", command: ["x"], health: { path: "/h" }, restart: "always" }],
    });
    expect(msg).toContain('services[0].health.url (service "api"): health needs a `url`, or a `port`');
    expect(msg).toContain('services[0] (service "api"): unknown key(s): restart');
  });
});
