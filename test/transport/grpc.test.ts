// gRPC on a real cluster: the generated client API (reflection, for grpcurl
// and buf curl, is tested in reflection.test.ts).

import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientServiceClient, type AppendReply, type ReadReply, type StatusReply } from "../../gen/paxos/v1/paxos.js";
import { ProcessCluster } from "../support/process-cluster.js";

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.start(3);
});

afterAll(async () => {
  await cluster?.destroy();
});

const grpcAddress = (i: number) => `127.0.0.1:${cluster.grpcPorts[i]}`;

function unary<Req, Res>(i: number, call: (c: ClientServiceClient, md: Metadata, opts: object, cb: (e: ServiceError | null, r: Res) => void) => void): Promise<Res> {
  const client = new ClientServiceClient(grpcAddress(i), credentials.createInsecure());
  return new Promise<Res>((resolve, reject) =>
    call(client, new Metadata(), { deadline: Date.now() + 10_000 }, (e, r) => {
      client.close();
      return e ? reject(e) : resolve(r);
    }),
  );
}

describe("the gRPC client API", () => {
  it("appends through every node (followers forward to the leader) and reads linearizably", async () => {
    let expected: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await unary<unknown, AppendReply>(i, (c, md, o, cb) => c.append({ clientId: 9000 + i, commandId: 1, payload: 70 + i, minimal: false }, md, o, cb));
      expected = [...expected, 70 + i];
      expect(r.state).toEqual(expected);
      expect(r.index).toBe(i);
    }
    const read = await unary<unknown, ReadReply>(1, (c, md, o, cb) => c.read({}, md, o, cb));
    expect(read.state).toEqual(expected);
    const st = await unary<unknown, StatusReply>(2, (c, md, o, cb) => c.status({}, md, o, cb));
    expect(st.id).toBe(2);
    expect(st.listLength).toBe(3);
    expect(st.peers).toHaveLength(3);
  });

  it("answers with the index only when asked for a minimal reply", async () => {
    const before = await cluster.state(0);
    const r = await unary<unknown, AppendReply>(1, (c, md, o, cb) => c.append({ clientId: 9100, commandId: 1, payload: 91, minimal: true }, md, o, cb));
    expect(r.state).toEqual([]);
    expect(r.index).toBe(before.length);
  });

  it("refuses integers beyond the safe range with INVALID_ARGUMENT and appends nothing", async () => {
    const before = await cluster.state(0);
    const err = await unary(0, (c, md, o, cb) => c.append({ clientId: 1, commandId: 1, payload: 2 ** 53, minimal: false }, md, o, cb)).catch((e: ServiceError) => e);
    expect((err as ServiceError).code).toBe(status.INVALID_ARGUMENT);
    expect(await cluster.state(0)).toEqual(before);
  });
});
