// What the client-facing edges (HTTP gateway, gRPC client service) need from
// a running node. The node runtime implements it; the edges only route.

import { memberNodeAddress, type NodeAddress } from "../config/cluster-config.js";
import type { MemberRole, Membership, MembershipChange } from "../core/membership.js";
import type { Command, CoreStatus, Outcome } from "../core/types.js";

/** No answer; `outcome` says whether the append may still take effect. */
export interface Failed {
  readonly kind: "failed";
  readonly outcome: Outcome;
  readonly reason: string;
  /** Set when this node was removed from the cluster: where the members are. */
  readonly members?: MembersView;
}

/** One member as operators and clients see it (GET /members, AdminService). */
export interface MemberView {
  readonly id: number;
  /** host:httpPort, the address clients use. */
  readonly address: string;
  /** host:grpcPort: ClientService, AdminService, reflection. */
  readonly grpc: string;
  /** host:peerPort: PeerService. */
  readonly peer: string;
  readonly role: MemberRole;
}

export interface MembersView {
  readonly members: readonly MemberView[];
  /** The slot whose chosen change made this membership (-1: the bootstrap config). */
  readonly configSlot: number;
}

export function membersView(m: Membership): MembersView {
  return {
    members: m.members.map((x) => {
      const a = memberNodeAddress(x.id, x.address);
      return { id: x.id, address: `${a.host}:${a.httpPort}`, grpc: `${a.host}:${a.grpcPort}`, peer: `${a.host}:${a.peerPort}`, role: x.role };
    }),
    configSlot: m.slot,
  };
}

/** A membership change: chosen (and applied here), refused (nothing changed), or failed (see Failed). */
export type ChangeRoute =
  | { readonly kind: "changed"; readonly member: MemberView; readonly view: MembersView }
  | { readonly kind: "refused"; readonly refusal: string; readonly message: string }
  | Failed;

export type AppendRoute = { readonly kind: "appended"; readonly index: number; readonly duplicate: boolean } | Failed;
/** A linearizable read: the list's first `length` elements, which this node has applied. */
export type ReadRoute = { readonly kind: "read"; readonly length: number } | Failed;

export interface RouteOptions {
  /** Absolute time (Date.now() ms) by which an answer is due. */
  readonly deadline: number;
}

export interface NodeService {
  readonly self: NodeAddress;
  /** Records a step of a request (--trace-steps); null when not tracing. */
  readonly steps?: { record(step: string): void } | null;
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
  /** The newest membership this node knows. */
  members(): MembersView;
  /**
   * A membership change through any member: the leader proposes it (a
   * follower hands it to the leader); it answers once the change is chosen
   * and applied on this node, or refused by the leader's checks.
   */
  routeChange(change: MembershipChange, opts: RouteOptions): Promise<ChangeRoute>;
  /** Prometheus text exposition of the node's metrics. */
  metricsText(): Promise<string>;
}

export interface NodeStatus extends Omit<CoreStatus, "member"> {
  /** What this node is in the newest membership it knows; "joining": started with --join, not yet added. */
  readonly member: CoreStatus["member"] | "joining";
  /** Every member's host:httpPort (this node's too, when it is one). */
  readonly peers: readonly string[];
  readonly clusterId: string;
  readonly members: MembersView;
}
