/**
 * Which services a `supervise restart|stop|start|logs` argument names: `all`, a name, or
 * `name@node` exactly as the status table prints a remote service. Pure; the CLI supplies the
 * services (from the running supervisor, or from the config for `logs`).
 */
export interface NamedService {
  name: string;
  /** "local", or the node name. */
  host: string;
}

export type Targets<T> = { ok: true; services: T[] } | { ok: false; error: string };

/** The label the table prints: `api`, `worker@gpu1`. */
export const serviceLabel = (s: NamedService): string =>
  s.host === "local" ? s.name : `${s.name}@${s.host}`;

export function resolveTargets<T extends NamedService>(arg: string, services: T[]): Targets<T> {
  if (arg === "all") return { ok: true, services };
  const known = () => services.map(serviceLabel).join(", ") || "none";
  const exact = services.find((s) => s.name === arg);
  if (exact) return { ok: true, services: [exact] };
  const at = arg.lastIndexOf("@");
  if (at > 0) {
    const name = arg.slice(0, at);
    const host = arg.slice(at + 1);
    const svc = services.find((s) => s.name === name);
    if (svc && svc.host === host) return { ok: true, services: [svc] };
    if (svc)
      return {
        ok: false,
        error: `service "${name}" runs on ${svc.host === "local" ? "this machine" : `node "${svc.host}"`}, not on "${host}" (known: ${known()})`,
      };
  }
  return { ok: false, error: `no service named "${arg}" (known: ${known()}, or all)` };
}
