// What the client-facing edges (HTTP gateway, gRPC client service) need from
// a running node. The node runtime implements it; the edges only route.

import type { NodeAddress } from "../config/cluster-config.js";
import type { Command, CoreStatus, Outcome } from "../core/types.js";

/** No answer; `outcome` says whether the append may still take effect. */
export interface Failed {
  readonly kind: "failed";
  readonly outcome: Outcome;
  readonly reason: string;
}

export type AppendRoute = { readonly kind: "appended"; readonly index: number; readonly duplicate: boolean } | Failed;
/** A linearizable read: the list's first `length` elements, which this node has applied. */
export type ReadRoute = { readonly kind: "read"; readonly length: number } | Failed;

export interface RouteOptions {
  /** Absolute time (Date.now() ms) by which an answer is due. */
  readonly deadline: number;
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
  /**
   * A linearizable read through any node: the leader confirms it still
   * leads; a follower asks the leader for that point (its read index) over
   * the peer protocol and serves its own list once it has applied that far.
   * With no leader it waits a bounded time for an election, like an append.
   */
  routeRead(opts: RouteOptions): Promise<ReadRoute>;
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
