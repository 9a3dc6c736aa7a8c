// The warm-up when a scratch port is taken between its pick and its bind
// (src/node/warm-up.ts): the three nodes of a cluster started together warm up
// at the same moment, from one port range, and CI once saw a round fail so.
// Real scratch clusters in this process; the test holds the taken port itself.

import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts } from "../../src/config/free-ports.js";
import { SCRATCH_PORTS, warmUp } from "../../src/node/warm-up.js";

let held: Server;
let heldPort: number;

beforeAll(async () => {
  heldPort = (await freePorts(1, SCRATCH_PORTS))[0]!;
  held = createServer();
  await new Promise<void>((resolve, reject) => {
    held.once("error", reject);
    held.listen(heldPort, "0.0.0.0", () => resolve());
  });
});

afterAll(async () => {
  await new Promise<void>((resolve) => held.close(() => resolve()));
});

/** Free scratch ports, with the held one put at `index` (0-8: HTTP, gRPC, peer of node 0, then 1, then 2). */
async function withHeldPortAt(index: number, avoid: ReadonlySet<number>): Promise<number[]> {
  const ports = await freePorts(9, SCRATCH_PORTS, new Set([...avoid, heldPort]));
  ports[index] = heldPort;
  return ports;
}

describe("the warm-up meeting a taken port", () => {
  it("runs the round again on other ports, whichever of a node's three ports was taken", async () => {
    // Node 0's HTTP, node 1's gRPC, node 2's peer port: each is bound by a different server.
    const takenAt = [0, 4, 8];
    let picks = 0;
    const report = await warmUp({
      rounds: 2,
      appends: 200,
      clients: 4,
      budgetMs: 20_000,
      pickPorts: (count, avoid) => {
        expect(count).toBe(9);
        const index = takenAt[picks++];
        return index === undefined ? freePorts(count, SCRATCH_PORTS, avoid) : withHeldPortAt(index, avoid);
      },
    });
    expect(report.portRetries).toBe(3);
    expect(report.rounds).toBe(2);
    // Each client checks the count before its next append, so a round may end a few past it.
    expect(report.appends).toBeGreaterThanOrEqual(200);
    expect(picks).toBe(5);
    // Only the rounds that ran report their ports, and none is the held one.
    expect(report.ports).toHaveLength(18);
    expect(report.ports).not.toContain(heldPort);
    // The taken port was really taken by someone else all along: ours still answers there.
    expect(held.listening).toBe(true);
    expect(held.address()).toMatchObject({ port: heldPort });
  }, 60_000);

  it("gives up, with the listen error, when the ports keep being taken", async () => {
    let picks = 0;
    const run = warmUp({
      rounds: 1,
      appends: 10,
      clients: 1,
      budgetMs: 20_000,
      pickPorts: (_count, avoid) => {
        picks++;
        return withHeldPortAt(0, avoid);
      },
    });
    await expect(run).rejects.toThrow(/EADDRINUSE/);
    expect(picks).toBe(6); // the first try and five more
  }, 60_000);
});
