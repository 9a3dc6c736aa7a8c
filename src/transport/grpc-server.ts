// The gRPC side of a node: the peer protocol (PeerService), the client API
// (ClientService) and server reflection, on the node's gRPC port.

import {
  Metadata,
  Server,
  ServerCredentials,
  credentials,
  status,
  type ServerUnaryCall,
  type sendUnaryData,
  type ServiceError,
} from "@grpc/grpc-js";
import type { PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { FileDescriptorProto } from "ts-proto-descriptors";
import {
  AppendRequest,
  ClientServiceClient,
  ClientServiceService,
  PeerServiceService,
  type AppendReply,
  type ClientServiceServer,
  type DeliverRequest,
  type PeerServiceServer,
  type ReadReply,
  type StatusReply,
  protoMetadata,
} from "../../gen/paxos/v1/paxos.js";
import { messageFromPb, WireError } from "../codec/wire.js";
import { dialHost, type NodeAddress } from "../config/cluster-config.js";
import type { Message, NodeId } from "../core/types.js";
import { HOPS_KEY, MAX_FORWARD_HOPS, type Failed, type NodeService } from "../service/node-service.js";
import { CHANNEL_OPTIONS } from "./peer-link.js";


export interface PeerInbox {
  deliver(from: NodeId, messages: Message[]): void;
}

export interface GrpcServerOptions {
  readonly host: string;
  readonly port: number;
  readonly inbox: PeerInbox;
  readonly service: NodeService;
  readonly requestTimeoutMs: number;
}

/**
 * What reflection serves: the FileDescriptorProto exactly as buf compiled it
 * (ts-proto's protoMetadata), with fully-qualified type names and comments.
 * Descriptors that proto-loader rebuilds through protobufjs use relative type
 * names and made-up file names, which strict clients such as grpcurl cannot
 * link (grpc-node #2595, #3018). ReflectionService reads only
 * `fileDescriptorProtos` from the package definition it is given.
 */
function reflectionPackage(): PackageDefinition {
  const file = Buffer.from(FileDescriptorProto.encode(protoMetadata.fileDescriptor).finish());
  // Cast: a full PackageDefinition entry also carries (de)serializers, which reflection never touches.
  return { [protoMetadata.fileDescriptor.package]: { fileDescriptorProtos: [file] } } as unknown as PackageDefinition;
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

export class GrpcServer {
  private readonly server = new Server({ "grpc.keepalive_permit_without_calls": 1 });
  private readonly forwardClients = new Map<NodeId, ClientServiceClient>();

  constructor(private readonly opts: GrpcServerOptions) {
    const peer: PeerServiceServer = {
      deliver: (call, cb) => {
        const problem = this.accept(call.request);
        cb(problem, problem === null ? {} : undefined);
      },
      stream: (call, cb) => {
        // A bad batch ends the stream with its error; the peer opens a new one.
        call.on("data", (req: DeliverRequest) => {
          const problem = this.accept(req);
          if (problem !== null) {
            cb(problem);
            call.destroy();
          }
        });
        call.on("end", () => cb(null, {}));
        call.on("error", () => {});
      },
    };
    const client: ClientServiceServer = {
      append: (call, cb) => void this.onAppend(call, cb),
      read: (call, cb) => void this.onRead(call, cb),
      status: (_call, cb) => cb(null, this.statusReply()),
    };
    this.server.addService(PeerServiceService, peer);
    this.server.addService(clientServiceWithStrictInts, client);
    new ReflectionService(reflectionPackage()).addToServer(this.server);
  }

  start(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`${this.opts.host}:${this.opts.port}`, ServerCredentials.createInsecure(), (err, port) =>
        err ? reject(new Error(`cannot listen for gRPC on ${this.opts.host}:${this.opts.port}: ${err.message}`)) : resolve(port),
      );
    });
  }

  close(): Promise<void> {
    for (const c of this.forwardClients.values()) c.close();
    return new Promise((resolve) => {
      this.server.tryShutdown(() => resolve());
      setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 1000).unref();
    });
  }

  /** Hands a batch of peer messages to the node; returns the error to answer with, or null. */
  private accept(req: DeliverRequest): Partial<ServiceError> | null {
    const self = this.opts.service.self.id;
    if (req.to !== self) {
      return { code: status.FAILED_PRECONDITION, details: `this is node ${self}, not node ${req.to}: check the config files agree` };
    }
    let messages: Message[];
    try {
      messages = req.messages.map(messageFromPb);
    } catch (e) {
      return { code: status.INVALID_ARGUMENT, details: e instanceof WireError ? e.message : String(e) };
    }
    this.opts.inbox.deliver(req.from, messages);
    return null;
  }

  private hops(call: ServerUnaryCall<unknown, unknown>): number {
    const v = Number(call.metadata.get(HOPS_KEY)[0] ?? 0);
    return Number.isFinite(v) ? v : 0;
  }

  private deadline(call: ServerUnaryCall<unknown, unknown>): number {
    const d = call.getDeadline();
    const given = d instanceof Date ? d.getTime() : Number.isFinite(d) ? Number(d) : Infinity;
    return Math.min(given, Date.now() + this.opts.requestTimeoutMs);
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
    const hops = this.hops(call);
    const deadline = this.deadline(call);
    const res = await this.opts.service.routeRead({ deadline, mayForward: hops < MAX_FORWARD_HOPS });
    if (res.kind === "read") {
      cb(null, { state: [...this.opts.service.listPrefix(res.length)] });
    } else if (res.kind === "forward") {
      const md = new Metadata();
      md.set(HOPS_KEY, String(hops + 1));
      this.forwardClient(res.leader).read({}, md, { deadline }, (err, reply) => cb(err, reply));
    } else {
      cb(failure(res));
    }
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

  private forwardClient(leader: NodeAddress): ClientServiceClient {
    let c = this.forwardClients.get(leader.id);
    if (c === undefined) {
      c = new ClientServiceClient(`${dialHost(leader.host)}:${leader.grpcPort}`, credentials.createInsecure(), CHANNEL_OPTIONS);
      this.forwardClients.set(leader.id, c);
    }
    return c;
  }
}

function failure(res: Failed): Partial<ServiceError> {
  // UNAVAILABLE is retryable; the outcome tells a client whether a retry could double-apply (it cannot:
  // retries of the same triple are deduplicated) or whether the append may still show up.
  return { code: status.UNAVAILABLE, details: `${res.reason} (outcome: ${res.outcome})` };
}
