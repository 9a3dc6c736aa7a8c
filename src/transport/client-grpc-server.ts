// The client API over gRPC (ClientService) and server reflection, on the
// node's gRPC port (HTTP port + 1000 by default): what grpcurl and buf curl
// talk to. Plaintext by default; TLS, and optionally required client
// certificates, with --cert-file, --key-file, --trusted-ca-file and
// --client-cert-auth. The peer protocol has a port of its own (peer-server.ts).

import { status, type ServerUnaryCall, type sendUnaryData, type ServiceError } from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import {
  AdminServiceService,
  AppendRequest,
  ClientServiceService,
  MemberRole,
  type AdminServiceServer,
  type ChangeMemberReply,
  type MemberInfo,
  type AppendReply,
  type ClientServiceServer,
  type ReadReply,
  type StatusReply,
} from "../../gen/paxos/v1/paxos.js";
import { normalizeMemberAddress } from "../config/cluster-config.js";
import type { MembershipChange } from "../core/membership.js";
import { REFUSAL_TRAILER } from "./peer-server.js";
import { Metadata } from "@grpc/grpc-js";
import type { ChangeRoute, Failed, MembersView, MemberView, NodeService } from "../service/node-service.js";
import type { TlsMaterial } from "../tls/tls-material.js";
import { GrpcPort } from "./grpc-port.js";

/** TLS for clients: this node's certificate, and whether clients must present one signed by material.ca. */
export interface ClientTls {
  readonly material: TlsMaterial;
  readonly clientCertAuth: boolean;
}

/** The services of the client port (besides reflection itself). */
export const CLIENT_SERVICE = "paxos.v1.ClientService";
export const ADMIN_SERVICE = "paxos.v1.AdminService";

export interface ClientGrpcServerOptions {
  readonly host: string;
  readonly port: number;
  readonly service: NodeService;
  readonly requestTimeoutMs: number;
  /** Calls in progress beyond which new ones are refused at once (RESOURCE_EXHAUSTED, not applied), as HTTP's 503. */
  readonly maxInflightRequests: number;
  readonly tls: ClientTls | null;
  readonly logger: Logger;
}

/**
 * What reflection serves: the FileDescriptorProtos exactly as buf compiled
 * them (gen/descriptors.binpb, written by `npm run gen`), byte for byte.
 * Descriptors rebuilt from decoded objects lose what proto2's presence rules
 * keep (an enum value's `number: 0`), and Go's protodesc, which grpcurl and
 * buf curl link with, then refuses the whole file; proto-loader's own
 * descriptors are worse (made-up file names, no dependencies: grpc-node
 * #2595, #3018). ReflectionService re-encodes what it is given, which for
 * buf's bytes is the identity (test/transport/reflection.test.ts checks it,
 * byte for byte). Only ClientService and AdminService are listed:
 * PeerService lives on the peer port.
 */
export function reflectionPackage(descriptorSet: Uint8Array = readDescriptorSet()): PackageDefinition {
  const files = splitDescriptorSet(descriptorSet);
  // Cast: a full PackageDefinition entry also carries (de)serializers, which reflection never touches.
  return { "paxos.v1": { fileDescriptorProtos: files } } as unknown as PackageDefinition;
}

/** The raw bytes of each file of a FileDescriptorSet (`repeated FileDescriptorProto file = 1`), not re-encoded. */
export function splitDescriptorSet(set: Uint8Array): Buffer[] {
  const reader = new BinaryReader(set);
  const files: Buffer[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) files.push(Buffer.from(reader.bytes()));
    else reader.skip(wireType);
  }
  return files;
}

export const DESCRIPTOR_SET_FILE = "gen/descriptors.binpb";

/** gen/descriptors.binpb of this package, found from src/ (tests) and from dist/src/ alike. */
function readDescriptorSet(): Buffer {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const path = join(dir, DESCRIPTOR_SET_FILE);
    if (existsSync(path)) return readFileSync(path);
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find ${DESCRIPTOR_SET_FILE} (run npm run gen)`);
    dir = up;
  }
}

interface Undecodable {
  undecodable: string;
}

/**
 * The generated decoder throws on an int64 beyond 2^53 (forceLong=number),
 * which grpc-js reports as INTERNAL. Catch it so the handler can answer
 * INVALID_ARGUMENT: the client sent a value this service refuses by contract.
 */
const clientServiceWithStrictInts = {
  ...ClientServiceService,
  append: {
    ...ClientServiceService.append,
    requestDeserialize: (bytes: Buffer): AppendRequest => {
      try {
        return AppendRequest.decode(bytes);
      } catch (e) {
        return { undecodable: (e as Error).message } as Undecodable as unknown as AppendRequest;
      }
    },
  },
};

export class ClientGrpcServer extends GrpcPort {
  constructor(private readonly opts: ClientGrpcServerOptions) {
    super({
      host: opts.host,
      port: opts.port,
      what: "client gRPC",
      tls: opts.tls?.material ?? null,
      requireClientCert: opts.tls?.clientCertAuth === true,
      clusterId: null,
      selfName: `node ${opts.service.self.id}`,
      logger: opts.logger,
    });
    const client: ClientServiceServer = {
      append: (call, cb) => this.bounded(cb, () => this.onAppend(call, cb)),
      read: (call, cb) => this.bounded(cb, () => this.onRead(call, cb)),
      status: (_call, cb) => cb(null, this.statusReply()),
    };
    this.addService(clientServiceWithStrictInts, client);
    const change = (c: MembershipChange, call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<ChangeMemberReply>) =>
      this.bounded(cb, async () => changeAnswer(await this.opts.service.routeChange(c, { deadline: this.deadline(call) }), cb));
    const admin: AdminServiceServer = {
      listMembers: (_call, cb) => cb(null, membersPb(this.opts.service.members())),
      addMember: (call, cb) => {
        const address = normalizeMemberAddress(call.request.address);
        if (typeof address !== "string") return cb({ code: status.INVALID_ARGUMENT, details: address.problem, metadata: refusalTrailer("bad_address") });
        change({ kind: "add", address }, call, cb);
      },
      promoteMember: (call, cb) => change({ kind: "promote", id: call.request.id }, call, cb),
      removeMember: (call, cb) => change({ kind: "remove", id: call.request.id }, call, cb),
    };
    this.addService(AdminServiceService, admin);
    const reflection = new ReflectionService(reflectionPackage(), { services: [CLIENT_SERVICE, ADMIN_SERVICE] });
    for (const server of this.servers()) reflection.addToServer(server);
  }

  private deadline(call: ServerUnaryCall<unknown, unknown>): number {
    const d = call.getDeadline();
    const given = d instanceof Date ? d.getTime() : Number.isFinite(d) ? Number(d) : Infinity;
    return Math.min(given, Date.now() + this.opts.requestTimeoutMs);
  }

  private inflight = 0;

  /** Flow control: beyond a bounded number of calls in progress, refuse at once (nothing was applied). */
  private bounded<T>(cb: sendUnaryData<T>, handle: () => Promise<void>): void {
    if (this.inflight >= this.opts.maxInflightRequests) {
      cb({ code: status.RESOURCE_EXHAUSTED, details: `overloaded: ${this.inflight} calls in progress on this node (outcome: not_applied)` });
      return;
    }
    this.inflight++;
    void handle().finally(() => this.inflight--);
  }

  private async onAppend(call: ServerUnaryCall<AppendRequest, AppendReply>, cb: sendUnaryData<AppendReply>): Promise<void> {
    const undecodable = (call.request as Partial<Undecodable>).undecodable;
    if (undecodable !== undefined) {
      cb({ code: status.INVALID_ARGUMENT, details: `cannot decode AppendRequest: ${undecodable}` });
      return;
    }
    const { clientId, commandId, payload } = call.request;
    for (const [name, v] of [["client_id", clientId], ["command_id", commandId], ["payload", payload]] as const) {
      if (!Number.isSafeInteger(v)) {
        cb({ code: status.INVALID_ARGUMENT, details: `${name} must be an integer in [-(2^53-1), 2^53-1]` });
        return;
      }
    }
    // Any node serves an append (a follower through the leader, answering from its own list).
    const res = await this.opts.service.routeAppend({ clientId, commandId, payload }, { deadline: this.deadline(call) });
    if (res.kind === "appended") {
      cb(null, { state: call.request.minimal ? [] : [...this.opts.service.listPrefix(res.index + 1)], index: res.index });
    } else {
      cb(failure(res));
    }
  }

  private async onRead(call: ServerUnaryCall<unknown, ReadReply>, cb: sendUnaryData<ReadReply>): Promise<void> {
    // Any node serves a read (a follower after asking the leader for its read index).
    const res = await this.opts.service.routeRead({ deadline: this.deadline(call) });
    if (res.kind === "read") cb(null, { state: [...this.opts.service.listPrefix(res.length)] });
    else cb(failure(res));
  }

  private statusReply(): StatusReply {
    const s = this.opts.service.status();
    return {
      id: s.id,
      role: s.role,
      leader: s.leader ?? -1,
      ballot: { round: s.promised.round, node: s.promised.node },
      commitIndex: s.commitIndex,
      appliedIndex: s.appliedIndex,
      listLength: s.listLength,
      peers: [...s.peers],
    };
  }
}

function memberPb(m: MemberView): MemberInfo {
  return { id: m.id, address: m.address, grpc: m.grpc, peer: m.peer, role: m.role === "voter" ? MemberRole.MEMBER_ROLE_VOTER : MemberRole.MEMBER_ROLE_LEARNER };
}

function membersPb(v: MembersView): { members: MemberInfo[]; configSlot: number } {
  return { members: v.members.map(memberPb), configSlot: v.configSlot };
}

function refusalTrailer(refusal: string): Metadata {
  const md = new Metadata();
  md.set(REFUSAL_TRAILER, refusal);
  return md;
}

/** A chosen change, or its refusal: INVALID_ARGUMENT for bad input, NOT_FOUND for no such member, FAILED_PRECONDITION otherwise. */
function changeAnswer(r: ChangeRoute, cb: sendUnaryData<ChangeMemberReply>): void {
  if (r.kind === "failed") return cb(failure(r));
  if (r.kind === "refused") {
    const code =
      r.refusal === "unknown_member" ? status.NOT_FOUND : ["bad_address", "address_taken", "not_a_learner", "last_voter"].includes(r.refusal) ? status.INVALID_ARGUMENT : status.FAILED_PRECONDITION;
    return cb({ code, details: `${r.message} (refusal: ${r.refusal})`, metadata: refusalTrailer(r.refusal) });
  }
  cb(null, { member: memberPb(r.member), ...membersPb(r.view) });
}

function failure(res: Failed): Partial<ServiceError> {
  // UNAVAILABLE is retryable; the outcome tells a client whether a retry could double-apply (it cannot:
  // retries of the same triple are deduplicated) or whether the append may still show up.
  return { code: status.UNAVAILABLE, details: `${res.reason} (outcome: ${res.outcome})` };
}
