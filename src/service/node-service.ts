// What the client-facing edges (HTTP gateway, gRPC client service) need from
// a running node. The node runtime implements it; the edges only route.

import type { NodeAddress } from "../config/cluster-config.js";
import type { Command, CoreStatus, Outcome } from "../core/types.js";

/** Another node leads: the edge forwards the read there. */
export interface Forward {
  readonly kind: "forward";
  readonly leader: NodeAddress;
}

/** No answer; `outcome` says whether the append may still take effect. */
export interface Failed {
  readonly kind: "failed";
  readonly outcome: Outcome;
  readonly reason: string;
}

export type AppendRoute = { readonly kind: "appended"; readonly index: number; readonly duplicate: boolean } | Failed;
export type ReadRoute = { readonly kind: "read"; readonly length: number } | Forward | Failed;

export interface RouteOptions {
  /** Absolute time (Date.now() ms) by which an answer is due. */
  readonly deadline: number;
}

/** A read forwarded this often is served only where it lands (no forwarding loops). */
export const MAX_FORWARD_HOPS = 2;
/** How many times a read was forwarded: an HTTP header, and gRPC metadata of the same name. */
export const HOPS_KEY = "x-paxos-hops";

export interface ReadRouteOptions extends RouteOptions {
  /** False when the read was already forwarded too often: then only this node may serve it. */
  readonly mayForward: boolean;
  /** A leader that just proved unreachable: wait for another instead of forwarding there again. */
  readonly avoidLeader?: number;
}

export interface NodeService {
  readonly self: NodeAddress;
  readonly nodes: readonly NodeAddress[];
  /**
   * Appends through any node: the leader proposes the command, a follower
   * hands it to the leader over the peer protocol and answers once it has
   * applied it itself; with no leader it waits a bounded time for an election.
   */
  routeAppend(command: Command, opts: RouteOptions): Promise<AppendRoute>;
  /** A linearizable read at the leader, or where to forward it; waits for an election like an append. */
  routeRead(opts: ReadRouteOptions): Promise<ReadRoute>;
  /** The list's first n items (a copy). */
  listPrefix(n: number): readonly number[];
  /** The whole list, read-only and live: it only grows. */
  listValues(): readonly number[];
  status(): NodeStatus;
  /** Prometheus text exposition of the node's metrics. */
  metricsText(): Promise<string>;
}

export interface NodeStatus extends CoreStatus {
  readonly peers: readonly string[];
}
