import { defineCommand } from "citty";
import { didYouMean } from "../did-you-mean.ts";
import { type Reservation, reservationActive, reserveDetail } from "../dispatch/slots.ts";
import { recordEvent } from "../store/events.ts";
import { getReservation, setReservation } from "../store/placement-facts.ts";
import { jsonArg, sharedArgs, withExamples } from "./common-args.ts";
import { withStore } from "./config-and-store.ts";
import { usageError } from "./errors.ts";
import { printJson } from "./table.ts";

/**
 * `oyster reserve N [--node NAME]` / `oyster reserve off [--node NAME]`: hold back slots for
 * people (the seed's team mode). Kept in the store like drain and pause, so the running
 * controller obeys it at its next tick and it survives restarts; tasks that would need the held
 * slots wait with reason `user_team_mode`.
 */
export default withExamples(
  defineCommand({
    meta: {
      name: "reserve",
      description: "Hold back slots for people (fleet-wide or on one node); off releases",
    },
    args: {
      ...sharedArgs,
      ...jsonArg,
      count: {
        type: "positional",
        required: false,
        description: "Slots to hold back, or off (omit to show the reservation)",
      },
      node: { type: "string", description: "Hold the slots on this node only" },
    },
    async run({ args }) {
      const want = args.count === undefined ? undefined : String(args.count);
      let n: number | undefined;
      if (want === "off") n = 0;
      else if (want !== undefined) {
        n = Number(want);
        if (!/^\d+$/.test(want) || !Number.isSafeInteger(n))
          throw usageError(`expected a number of slots or "off", got ${JSON.stringify(want)}`);
      }
      const node = args.node === undefined ? undefined : String(args.node);
      const r = await withStore(args, (store, loaded) => {
        if (node !== undefined) {
          const names = loaded.config.nodes.map((x) => x.name);
          if (!names.includes(node)) {
            const near = didYouMean(node, names);
            throw usageError(
              `no node named "${node}" in the config${near ? ` (did you mean "${near}"?)` : ""}; nodes: ${names.join(", ")}`,
            );
          }
        }
        return store.tx((db) => {
          const cur = getReservation(db);
          if (n === undefined) return cur;
          const next: Reservation =
            node === undefined
              ? // `reserve off` without --node releases everything; `reserve N` sets the fleet-wide count.
                want === "off"
                ? { fleet: 0, nodes: {} }
                : { fleet: n, nodes: cur.nodes }
              : { fleet: cur.fleet, nodes: withNode(cur.nodes, node, n) };
          setReservation(db, next);
          recordEvent(db, {
            kind: reservationActive(next) ? "reserve_on" : "reserve_off",
            source: "cli",
            node: node ?? null,
            data: { ...next },
          });
          return next;
        });
      });
      if (args.json) return printJson({ reserve: r });
      process.stdout.write(
        reservationActive(r)
          ? `${reserveDetail(r).replace("reserved for people", "reserved")}; tasks that need them wait with user_team_mode\n`
          : "no slots reserved\n",
      );
    },
  }),
  ["oyster reserve 2", "oyster reserve 1 --node gpu1", "oyster reserve off", "oyster reserve --json"],
);

function withNode(nodes: Record<string, number>, node: string, n: number): Record<string, number> {
  const { [node]: _old, ...rest } = nodes;
  return n > 0 ? { ...rest, [node]: n } : rest;
}
