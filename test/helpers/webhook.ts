/** A webhook receiver on a free loopback port: its URL, the JSON bodies it got in order, stop. */
export function webhookReceiver(): { url: string; hooks: Record<string, unknown>[]; stop: () => void } {
  const hooks: Record<string, unknown>[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      hooks.push((await req.json()) as Record<string, unknown>);
      return new Response("ok");
    },
  });
  return { url: `http://127.0.0.1:${server.port}/hook`, hooks, stop: () => server.stop(true) };
}
