// A stand-in NodeService for gateway tests: the gateway only routes, so its
// rules (outcomes, flow control, the HTTP edge) are tested against answers the
// test chooses; the real node behind it is tested in test/integration.

import type { NodeAddress } from "../../src/config/cluster-config.js";
import type { Command } from "../../src/core/types.js";
import type { AppendRoute, ChangeRoute, MembersView, NodeService, NodeStatus, ReadRoute, RouteOptions } from "../../src/service/node-service.js";

export class StandIn implements NodeService {
  /** The options of every append routed here, in order. */
  readonly seen: RouteOptions[] = [];
  /** The options of every read routed here, in order. */
  readonly seenReads: RouteOptions[] = [];
  constructor(
    readonly self: NodeAddress,
    readonly nodes: NodeAddress[],
    private readonly answer: (opts: RouteOptions, n: number) => AppendRoute | Promise<AppendRoute>,
    private readonly answerRead: (opts: RouteOptions, n: number) => ReadRoute | Promise<ReadRoute> = () => ({
      kind: "failed",
      outcome: "not_applied",
      reason: "unused",
    }),
  ) {}
  async routeAppend(_c: Command, opts: RouteOptions): Promise<AppendRoute> {
    this.seen.push(opts);
    return this.answer(opts, this.seen.length);
  }
  async routeRead(opts: RouteOptions): Promise<ReadRoute> {
    this.seenReads.push(opts);
    return this.answerRead(opts, this.seenReads.length);
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
  members(): MembersView {
    throw new Error("unused");
  }
  async routeChange(): Promise<ChangeRoute> {
    throw new Error("unused");
  }
  async metricsText(): Promise<string> {
    return "";
  }
}
