// A gRPC reflection client for tests: it fetches file descriptors over
// grpc.reflection.v1, as they were served, and can link them with
// @bufbuild/protobuf's createFileRegistry, which throws on any missing
// dependency or unresolved type (the failure mode of grpc-node #2595/#3018).
// That registry is laxer than Go's protodesc (grpcurl, buf curl); the strict
// checks run buf itself (test/transport/reflection.test.ts).

import { createFileRegistry, fromBinary, toBinary, create, type DescMessage, type FileRegistry, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { credentials, loadPackageDefinition, makeGenericClientConstructor, Metadata, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { join } from "node:path";
import { ROOT } from "./process-cluster.js";

interface ReflectionResponse {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

type ReflectionStub = {
  ServerReflectionInfo(): {
    write(req: object): void;
    end(): void;
    on(ev: "data", f: (r: ReflectionResponse) => void): void;
    on(ev: "error", f: (e: Error) => void): void;
    on(ev: "end", f: () => void): void;
  };
  close(): void;
};

function reflectionStub(address: string): ReflectionStub {
  const pkg = loadSync("grpc/reflection/v1/reflection.proto", {
    includeDirs: [join(ROOT, "node_modules/@grpc/reflection/build/proto")],
  });
  const grpcObj = loadPackageDefinition(pkg) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: new (addr: string, creds: ReturnType<typeof credentials.createInsecure>) => ReflectionStub } } };
  };
  return new grpcObj.grpc.reflection.v1.ServerReflection(address, credentials.createInsecure());
}

/** Sends one reflection request and returns the one response. */
async function ask(address: string, req: object): Promise<ReflectionResponse> {
  const stub = reflectionStub(address);
  try {
    return await new Promise((resolve, reject) => {
      const call = stub.ServerReflectionInfo();
      call.on("data", (r) => resolve(r));
      call.on("error", reject);
      call.write(req);
      call.end();
    });
  } finally {
    stub.close();
  }
}

export async function listServices(address: string): Promise<string[]> {
  const r = await ask(address, { listServices: "*" });
  return r.listServicesResponse!.service.map((s) => s.name).sort();
}

/**
 * The files reflection serves for `symbols` and, transitively, their
 * dependencies (asking for any the server did not include, as grpcurl
 * does): name -> the bytes exactly as served.
 */
export async function servedFiles(address: string, symbols: readonly string[]): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const take = (r: ReflectionResponse, what: string) => {
    if (r.errorResponse) throw new Error(`reflection cannot serve ${what}: ${r.errorResponse.errorMessage}`);
    for (const bytes of r.fileDescriptorResponse!.fileDescriptorProto) files.set(fromBinary(FileDescriptorProtoSchema, bytes).name, Buffer.from(bytes));
  };
  for (const symbol of symbols) take(await ask(address, { fileContainingSymbol: symbol }), symbol);
  for (let changed = true; changed; ) {
    changed = false;
    for (const bytes of [...files.values()]) {
      for (const dep of fromBinary(FileDescriptorProtoSchema, bytes).dependency) {
        if (files.has(dep)) continue;
        take(await ask(address, { fileByFilename: dep }), `dependency ${dep}`);
        changed = true;
      }
    }
  }
  return files;
}

/** One file as served, asked for by name. */
export async function servedFile(address: string, name: string): Promise<Buffer> {
  const r = await ask(address, { fileByFilename: name });
  if (r.errorResponse) throw new Error(`reflection cannot serve ${name}: ${r.errorResponse.errorMessage}`);
  const bytes = r.fileDescriptorResponse!.fileDescriptorProto.find((b) => fromBinary(FileDescriptorProtoSchema, b).name === name);
  if (bytes === undefined) throw new Error(`reflection answered for ${name} without that file`);
  return Buffer.from(bytes);
}

/** Fetches the file containing `symbol` and its dependencies, and links them with @bufbuild/protobuf (laxer than Go's protodesc). */
export async function registryFor(address: string, symbol: string): Promise<FileRegistry> {
  const files = await servedFiles(address, [symbol]);
  return createFileRegistry(create(FileDescriptorSetSchema, { file: [...files.values()].map((b) => fromBinary(FileDescriptorProtoSchema, b)) }));
}

/** Calls a unary method knowing only what reflection served (a dynamic call, like `grpcurl -d`). */
export async function dynamicUnaryCall<I extends DescMessage, O extends DescMessage>(
  address: string,
  path: string,
  input: I,
  output: O,
  request: MessageInitShape<I>,
  timeoutMs = 10_000,
): Promise<ReturnType<typeof fromBinary<O>>> {
  const Client = makeGenericClientConstructor(
    {
      call: {
        path,
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Uint8Array) => Buffer.from(b),
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Uint8Array) => Buffer.from(b),
        responseDeserialize: (b: Buffer) => b,
      },
    },
    "dynamic",
  );
  const client = new Client(address, credentials.createInsecure()) as unknown as {
    call(req: Uint8Array, md: Metadata, opts: object, cb: (e: ServiceError | null, r: Buffer) => void): void;
    close(): void;
  };
  try {
    const bytes = await new Promise<Buffer>((resolve, reject) =>
      client.call(toBinary(input, create(input, request)), new Metadata(), { deadline: Date.now() + timeoutMs }, (e, r) => (e ? reject(e) : resolve(r))),
    );
    return fromBinary(output, bytes);
  } finally {
    client.close();
  }
}
