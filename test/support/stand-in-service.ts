// A stand-in NodeService for gateway tests: the gateway only routes, so its
// rules (forwarding, outcomes, flow control) are tested against answers the
// test chooses; the real node behind it is tested in test/integration.

import type { NodeAddress } from "../../src/config/cluster-config.js";
import type { Command } from "../../src/core/types.js";
import type { AppendRoute, NodeService, NodeStatus, ReadRoute, RouteOptions } from "../../src/service/node-service.js";

export class StandIn implements NodeService {
  readonly seen: RouteOptions[] = [];
  constructor(
    readonly self: NodeAddress,
    readonly nodes: NodeAddress[],
    private readonly answer: (opts: RouteOptions, n: number) => AppendRoute | Promise<AppendRoute>,
  ) {}
  async routeAppend(_c: Command, opts: RouteOptions): Promise<AppendRoute> {
    this.seen.push(opts);
    return this.answer(opts, this.seen.length);
  }
  async routeRead(): Promise<ReadRoute> {
    return { kind: "failed", outcome: "not_applied", reason: "unused" };
  }
  listPrefix(n: number): readonly number[] {
    return Array.from({ length: n }, (_, i) => i);
  }
  listValues(): readonly number[] {
    return this.listPrefix(3);
  }
  status(): NodeStatus {
    throw new Error("unused");
  }
  async metricsText(): Promise<string> {
    return "";
  }
}
