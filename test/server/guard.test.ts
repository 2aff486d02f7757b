import { expect, test } from "bun:test";
import { hostAllowed, splitHost } from "../../src/server/guard.ts";

const opts = (host: string, port: number | undefined, allowedHosts: string[] = []) => ({
  host,
  port: () => port,
  allowedHosts,
  loopback: true,
  guardProbes: false,
});

test("Host names split with their port, IPv6 literals in brackets", () => {
  expect(splitHost("LocalHost:8090")).toEqual({ name: "localhost", port: 8090 });
  expect(splitHost("[::1]:80")).toEqual({ name: "[::1]", port: 80 });
  expect(splitHost("a:b:c")).toBeNull();
  expect(splitHost("")).toBeNull();
});

test("the Host must be a loopback name, the bind address or an allowed host, with the bound port", () => {
  const o = opts("10.0.0.5", 8090, ["oyster.internal", "proxy:443"]);
  for (const h of [
    "localhost:8090",
    "127.0.0.1:8090",
    "[::1]:8090",
    "10.0.0.5:8090",
    "oyster.internal",
    "proxy:443",
  ])
    expect([h, hostAllowed(h, o)]).toEqual([h, true]);
  for (const h of [
    "localhost:9999",
    "localhost",
    "evil.example:8090",
    "10.0.0.6:8090",
    "proxy:444",
    "proxy",
    undefined,
  ])
    expect([h, hostAllowed(h, o)]).toEqual([h, false]);
  expect(hostAllowed("[::1]:81", opts("::1", 81))).toBe(true);
});
