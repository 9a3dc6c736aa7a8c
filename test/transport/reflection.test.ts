// Server reflection as grpcurl and buf curl use it, checked with a real
// strict client: `buf curl` (in node_modules with @bufbuild/buf), which links
// what reflection serves with Go's protodesc, exactly as grpcurl does, and
// `buf convert`, which links a descriptor set the same way and resolves one
// message type in it. @bufbuild/protobuf's registry, which an earlier test
// used, accepted descriptors that Go refuses ("enum value ... must have a
// specified number").

import { fromBinary, toBinary, create } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type DescriptorProto, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_SERVICE, CLIENT_SERVICE, DESCRIPTOR_SET_FILE, reflectionPackage, splitDescriptorSet } from "../../src/transport/client-grpc-server.js";
import { ProcessCluster, ROOT } from "../support/process-cluster.js";
import { servedFile, servedFiles } from "../support/reflection-client.js";

const BUF = join(ROOT, "node_modules/.bin/buf");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[], cwd = ROOT): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { cwd, timeout: 30_000 }, (_e, stdout, stderr) => resolve({ code: child.exitCode, stdout: String(stdout), stderr: String(stderr) }));
  });
}

/** `buf curl` over plaintext HTTP/2 (h2c), schema by reflection: what the README shows. */
const bufCurl = (url: string, ...args: string[]) => run(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args, url]);

/** Every message type declared in a file, nested ones included, by full name. */
function messageNames(fd: FileDescriptorProto): string[] {
  const out: string[] = [];
  const walk = (prefix: string, msgs: readonly DescriptorProto[]) => {
    for (const m of msgs) {
      const name = `${prefix}.${m.name}`;
      if (!m.options?.mapEntry) out.push(name);
      walk(name, m.nestedType);
    }
  };
  walk(fd.package, fd.messageType);
  return out;
}

/**
 * Links the served files with Go's protodesc (buf convert on a descriptor
 * set) and resolves every message type in them: what `grpcurl describe`
 * needs of each. Returns the failures.
 */
async function strictlyLinkEveryMessage(files: Iterable<Buffer>, dir: string): Promise<string[]> {
  const decoded = [...files].map((b) => fromBinary(FileDescriptorProtoSchema, b));
  const setPath = join(dir, "served.binpb");
  writeFileSync(setPath, toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: decoded })));
  const empty = join(dir, "empty.json");
  writeFileSync(empty, "{}");
  const names = decoded.flatMap(messageNames);
  expect(names.length).toBeGreaterThan(0);
  // One buf process per message, a few at a time: one after another they took 13 s here, and
  // twice that on a loaded machine, close to a test's default timeout.
  const failures: string[] = [];
  const queue = [...names];
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const r = await run(BUF, ["convert", setPath, "--type", name, "--from", empty, "--to", "-#format=json"]);
      if (r.code !== 0) failures.push(`${name}: ${r.stderr.trim()}`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return failures.sort();
}

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "paxos-reflection-"));
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe("reflection on a real cluster's gRPC client port", () => {
  let cluster: ProcessCluster;
  const address = (i: number) => `127.0.0.1:${cluster.grpcPorts[i]}`;
  const url = (i: number) => `http://${address(i)}`;

  beforeAll(async () => {
    cluster = await ProcessCluster.start(3);
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it("serves every file exactly as buf compiled it, byte for byte", async () => {
    // What a fresh `buf build` makes of proto/ (gen-fresh.test.ts checks the committed copy is the same).
    const out = join(scratch, "buf.binpb");
    const built = await run(BUF, ["build", "--as-file-descriptor-set", "-o", out]);
    expect(built.code, built.stderr).toBe(0);
    const files = splitDescriptorSet(readFileSync(out));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const bytes of files) {
      const name = fromBinary(FileDescriptorProtoSchema, bytes).name;
      expect((await servedFile(address(0), name)).equals(bytes), `${name} as served`).toBe(true);
    }
  });

  it("buf curl lists the client port's services", async () => {
    const r = await bufCurl(url(0), "--list-services");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n").sort()).toEqual([ADMIN_SERVICE, CLIENT_SERVICE]);
    const m = await bufCurl(url(0), "--list-methods");
    expect(m.stdout.trim().split("\n").sort()).toEqual([
      "paxos.v1.AdminService/AddMember",
      "paxos.v1.AdminService/ListMembers",
      "paxos.v1.AdminService/PromoteMember",
      "paxos.v1.AdminService/RemoveMember",
      "paxos.v1.ClientService/Append",
      "paxos.v1.ClientService/Read",
      "paxos.v1.ClientService/Status",
    ]);
  });

  it("buf curl lists the members through AdminService, and its refusals change nothing", async () => {
    const list = await bufCurl(`${url(1)}/paxos.v1.AdminService/ListMembers`, "-d", "{}");
    expect(list.code, list.stderr).toBe(0);
    const listed = JSON.parse(list.stdout) as { members: { id?: number; role: string }[]; configSlot: string };
    expect(listed.members.map((m) => [m.id ?? 0, m.role])).toEqual([[0, "MEMBER_ROLE_VOTER"], [1, "MEMBER_ROLE_VOTER"], [2, "MEMBER_ROLE_VOTER"]]);
    expect(listed.configSlot).toBe("-1");
    const taken = await bufCurl(`${url(2)}/paxos.v1.AdminService/AddMember`, "-d", JSON.stringify({ address: `localhost:${cluster.httpPorts[0]}` }));
    expect(taken.code).not.toBe(0);
    expect(taken.stderr).toMatch(/invalid_argument[\s\S]*already member 0[\s\S]*address_taken/i);
    const unknown = await bufCurl(`${url(0)}/paxos.v1.AdminService/RemoveMember`, "-d", '{"id": 42}');
    expect(unknown.stderr).toMatch(/not_found[\s\S]*no member 42/i);
    const again = await bufCurl(`${url(0)}/paxos.v1.AdminService/ListMembers`, "-d", "{}");
    expect(JSON.parse(again.stdout)).toEqual(listed);
  });

  it("buf curl calls Status, Append and Read through any node", async () => {
    const status = await bufCurl(`${url(2)}/paxos.v1.ClientService/Status`, "-d", "{}");
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ id: 2, peers: expect.any(Array) });
    const append = await bufCurl(`${url(1)}/paxos.v1.ClientService/Append`, "-d", '{"client_id": 3, "command_id": 1, "payload": 9}');
    expect(append.code, append.stderr).toBe(0);
    expect(JSON.parse(append.stdout)).toEqual({ state: ["9"] }); // int64 is a JSON string in proto3's JSON mapping
    const read = await bufCurl(`${url(0)}/paxos.v1.ClientService/Read`, "-d", "{}");
    expect(read.code, read.stderr).toBe(0);
    expect(JSON.parse(read.stdout)).toEqual({ state: ["9"] });
    expect(await cluster.state(2)).toEqual([9]);
  });

  it("serves descriptors Go's protodesc links, for every message of every file served", { timeout: 120_000 }, async () => {
    const files = await servedFiles(address(0), [CLIENT_SERVICE, ADMIN_SERVICE]);
    expect([...files.keys()]).toContain("paxos/v1/paxos.proto");
    expect(await strictlyLinkEveryMessage(files.values(), scratch)).toEqual([]);
  });
});

describe("reflection for any future .proto (a new enum, an imported file)", () => {
  it("serves a module of two files, one importing the other, to buf curl and protodesc", { timeout: 120_000 }, async () => {
    // A module unlike ours: an enum whose zero value is the one re-encoding loses, in a file another imports.
    const mod = join(scratch, "module");
    mkdirSync(join(mod, "demo/v1"), { recursive: true });
    writeFileSync(join(mod, "buf.yaml"), "version: v2\n");
    writeFileSync(
      join(mod, "demo/v1/common.proto"),
      'syntax = "proto3";\npackage demo.v1;\nenum Color {\n  COLOR_UNSPECIFIED = 0;\n  COLOR_RED = 1;\n}\nmessage Paint {\n  Color color = 1;\n  map<string, int64> mix = 2;\n}\n',
    );
    writeFileSync(
      join(mod, "demo/v1/shop.proto"),
      'syntax = "proto3";\npackage demo.v1;\nimport "demo/v1/common.proto";\nimport "google/protobuf/empty.proto";\nmessage BuyRequest {\n  Paint paint = 1;\n}\nservice ShopService {\n  rpc Buy(BuyRequest) returns (Paint);\n  rpc Ping(google.protobuf.Empty) returns (google.protobuf.Empty);\n}\n',
    );
    const out = join(scratch, "module.binpb");
    const built = await run(BUF, ["build", "--as-file-descriptor-set", "-o", out], mod);
    expect(built.code, built.stderr).toBe(0);

    // The same reflection setup as the node's, on a grpc-js server with a stand-in handler.
    const server = new Server();
    const identity = (b: Buffer) => b;
    server.addService(
      {
        buy: { path: "/demo.v1.ShopService/Buy", requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity },
      },
      { buy: (_call: unknown, cb: (e: null, r: Buffer) => void) => cb(null, Buffer.from([0x08, 0x01])) }, // Paint{color: COLOR_RED}
    );
    new ReflectionService(reflectionPackage(readFileSync(out)), { services: ["demo.v1.ShopService"] }).addToServer(server);
    const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    try {
      const listed = await bufCurl(`http://127.0.0.1:${port}`, "--list-services");
      expect(listed.stdout.trim()).toBe("demo.v1.ShopService");
      const call = await bufCurl(`http://127.0.0.1:${port}/demo.v1.ShopService/Buy`, "-d", '{"paint": {"color": "COLOR_RED"}}');
      expect(call.code, call.stderr).toBe(0);
      expect(JSON.parse(call.stdout)).toEqual({ color: "COLOR_RED" });
      const files = await servedFiles(`127.0.0.1:${port}`, ["demo.v1.ShopService"]);
      expect([...files.keys()].sort()).toEqual(["demo/v1/common.proto", "demo/v1/shop.proto", "google/protobuf/empty.proto"]);
      expect(await strictlyLinkEveryMessage(files.values(), scratch)).toEqual([]);
    } finally {
      server.forceShutdown();
    }
  });

  it("(control) the strict check refuses what re-encoding through proto3 rules serves", { timeout: 120_000 }, async () => {
    // The old bug, on purpose: an enum value's number 0 dropped from the descriptor (proto2 presence lost).
    const ours = splitDescriptorSet(readFileSync(join(ROOT, DESCRIPTOR_SET_FILE))).map((b) => fromBinary(FileDescriptorProtoSchema, b));
    const broken = ours.map((fd) => {
      const copy = fromBinary(FileDescriptorProtoSchema, toBinary(FileDescriptorProtoSchema, fd));
      for (const e of copy.enumType) for (const v of e.value) if (v.number === 0) v.number = undefined as unknown as number; // Cast: clearing a proto2 field
      return toBinary(FileDescriptorProtoSchema, copy);
    });
    const failures = await strictlyLinkEveryMessage(broken.map((b) => Buffer.from(b)), scratch);
    expect(failures.length).toBeGreaterThan(0);
    for (const f of failures) expect(f).toMatch(/must have a specified number/);
  });
});
