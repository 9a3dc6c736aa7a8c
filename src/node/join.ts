// `paxos node --join MEMBER --self ADDRESS`: a new node starts without the
// cluster's config. It asks a member about the cluster (PeerService.Join on
// the member's peer port, with this node's peer certificate when peers use
// mutual TLS) until an operator has added ADDRESS (`paxos members add`),
// then records what it learned (member-file.ts) and starts as that member.
// Meanwhile its gateway answers GET /status ("member": "joining") and 503
// not_applied to everything else, so a client or a health check sees why.

import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { PeerServiceClient, type JoinReply } from "../../gen/paxos/v1/paxos.js";
import { membershipFromPb } from "../codec/wire.js";
import { dialHost, memberAddress, type NodeAddress } from "../config/cluster-config.js";
import type { Membership } from "../core/membership.js";
import { NO_BALLOT } from "../core/ballot.js";
import { startGateway } from "../gateway/http-gateway.js";
import { membersView, type Failed, type MembersView, type NodeService, type NodeStatus } from "../service/node-service.js";
import type { MemberFile } from "../storage/member-file.js";
import type { TlsMaterial } from "../tls/tls-material.js";
import type { ClientTls } from "../transport/client-grpc-server.js";
import { CHANNEL_OPTIONS, peerCredentials } from "../transport/peer-link.js";

/** How often a joining node asks again whether it was added. */
const JOIN_POLL_MS = 1000;

export interface JoinOptions {
  /** The member asked (its peer port). */
  readonly member: NodeAddress;
  /** This node: host, ports (its id is not known yet). */
  readonly self: NodeAddress;
  readonly peerTls: TlsMaterial | null;
  readonly clientTls: ClientTls | null;
  readonly bindHost: string;
  readonly logger: Logger;
  readonly requestTimeoutMs: number;
  /** Stops waiting (the process got SIGTERM). */
  readonly signal: AbortSignal;
}

/** Asks the member until this node is a member; returns what the member file records. */
export async function joinCluster(o: JoinOptions): Promise<MemberFile> {
  const address = memberAddress(o.self);
  const { creds, options } = o.peerTls === null ? { creds: credentials.createInsecure(), options: {} } : peerCredentials(o.member, o.peerTls);
  const client = new PeerServiceClient(`${dialHost(o.member.host)}:${o.member.peerPort}`, creds, { ...CHANNEL_OPTIONS, ...options });
  let latest: Membership | null = null;
  const service = joiningService(o.self, () => latest);
  const gateway = await startGateway({ service, host: o.bindHost, port: o.self.httpPort, logger: o.logger, requestTimeoutMs: o.requestTimeoutMs, maxInflightRequests: 1000, tls: o.clientTls });
  const reported = new Set<string>();
  o.logger.info({ member: `${o.member.host}:${o.member.peerPort}`, self: address }, `waiting to be added: run \`paxos members add ${o.self.host}:${o.self.httpPort}:${o.self.grpcPort}:${o.self.peerPort} --server ${o.member.host}:${o.member.httpPort}\``);
  try {
    for (;;) {
      if (o.signal.aborted) throw new Error("stopped while waiting to be added");
      let reply: JoinReply;
      try {
        reply = await new Promise<JoinReply>((resolve, reject) =>
          client.join({ address }, new Metadata(), { deadline: Date.now() + 2 * JOIN_POLL_MS }, (err: ServiceError | null, r?: JoinReply) =>
            err === null && r !== undefined ? resolve(r) : reject(err ?? new Error("empty Join reply")),
          ),
        );
      } catch (e) {
        const why = (e as ServiceError).details ?? (e as Error).message;
        if (!reported.has(why)) o.logger.warn({ member: o.member.host, error: why }, "cannot ask the member about the cluster yet");
        reported.add(why);
        await sleep(JOIN_POLL_MS, o.signal);
        continue;
      }
      const membership = membershipFromPb(reply.membership);
      latest = membership;
      const me = membership.members.find((m) => m.address === address);
      if (me !== undefined) {
        o.logger.info({ id: me.id, configSlot: membership.slot, cluster: reply.clusterId }, "added to the cluster: starting as its member");
        return { clusterId: reply.clusterId, id: me.id, address, genesis: membershipFromPb(reply.genesis), joined: membership };
      }
      await sleep(JOIN_POLL_MS, o.signal);
    }
  } finally {
    client.close();
    await gateway.close();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });
}

/** The gateway's service while the node waits: /status says "joining"; appends and reads fail not_applied. */
function joiningService(self: NodeAddress, latest: () => Membership | null): NodeService {
  const failed: Failed = { kind: "failed", outcome: "not_applied", reason: "this node is joining the cluster and has not been added yet" };
  const view = (): MembersView => {
    const m = latest();
    return m === null ? { members: [], configSlot: -1 } : membersView(m);
  };
  return {
    self,
    routeAppend: () => Promise.resolve({ ...failed, members: view() }),
    routeRead: () => Promise.resolve({ ...failed, members: view() }),
    routeChange: () => Promise.resolve({ ...failed, members: view() }),
    listPrefix: () => [],
    listValues: () => [],
    members: view,
    metricsText: () => Promise.resolve(""),
    status: (): NodeStatus => {
      const m = latest();
      return {
        id: self.id,
        role: "follower",
        member: "joining",
        membership: m ?? { members: [], slot: -1, nextId: 0 },
        leader: null,
        promised: NO_BALLOT,
        ownBallot: null,
        commitIndex: 0,
        appliedIndex: 0,
        listLength: 0,
        peers: view().members.map((x) => x.address),
        clusterId: "",
        members: view(),
      };
    },
  };
}
