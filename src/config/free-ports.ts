// Ports for clusters that a test or benchmark starts on this machine.
//
// Asking the OS for port 0 hands out a port from the ephemeral range
// (32768-60999 on Linux), the same range outgoing connections take their
// local ports from: between our check and the node's bind, a client socket
// can take the port, and the node fails with EADDRINUSE. So ports are picked
// below that range, and checked free on all interfaces (where nodes bind).

import { createServer, type Server } from "node:net";

const LOW = 20_000;
const HIGH = 32_767;

function tryListen(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(null));
    srv.listen(port, "0.0.0.0", () => resolve(srv));
  });
}

/** Ports in this range below the ephemeral one: the default, where test and bench clusters take theirs. */
export const CLUSTER_PORTS = { low: LOW, high: HIGH } as const;

/**
 * n distinct TCP ports in `range`, none of them in `avoid`, free on all interfaces at the time of
 * the call (all held open together, then released).
 */
export async function freePorts(
  n: number,
  range: { readonly low: number; readonly high: number } = CLUSTER_PORTS,
  avoid: ReadonlySet<number> = new Set(),
): Promise<number[]> {
  const held: Server[] = [];
  const ports: number[] = [];
  try {
    for (let attempts = 0; ports.length < n; attempts++) {
      if (attempts > 1000) throw new Error(`no ${n} free ports found in ${range.low}-${range.high}`);
      const port = range.low + Math.floor(Math.random() * (range.high - range.low + 1));
      if (ports.includes(port) || avoid.has(port)) continue;
      const srv = await tryListen(port);
      if (srv === null) continue;
      held.push(srv);
      ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
