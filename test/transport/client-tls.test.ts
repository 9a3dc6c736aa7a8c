// Clients over TLS (--cert-file, --key-file, --trusted-ca-file,
// --client-cert-auth) on a real 3-process cluster: HTTPS on the contract's
// port and TLS on the gRPC client port, with and without a client
// certificate, through the project's own CLI and plain Node clients.

import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientServiceClient, type StatusReply } from "../../gen/paxos/v1/paxos.js";
import { createCa, createClientCert, createNodeCert } from "../../src/tls/certs.js";
import { PAXOS_BIN, ProcessCluster, ROOT } from "../support/process-cluster.js";

let dir: string;
let other: string;
let cluster: ProcessCluster;
const file = (d: string, f: string) => join(d, f);
const read = (d: string, f: string) => readFileSync(join(d, f));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "paxos-client-tls-"));
  other = join(dir, "other");
  await createCa(dir);
  await createNodeCert(dir, ["localhost"]);
  await createClientCert(dir, "root");
  await createCa(other);
  await createClientCert(other, "root");
  const tls = ["--cert-file", file(dir, "node.crt"), "--key-file", file(dir, "node.key"), "--trusted-ca-file", file(dir, "ca.crt"), "--client-cert-auth"];
  cluster = await ProcessCluster.start(3, tls, { https: { ca: read(dir, "ca.crt"), cert: read(dir, "client.root.crt"), key: read(dir, "client.root.key") } });
});

afterAll(async () => {
  await cluster?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

async function https(port: number, path: string, client: { cert: Buffer; key: Buffer } | null, body?: string) {
  const agent = new Agent({ connect: { ca: read(dir, "ca.crt"), servername: "localhost", ...(client ?? {}) } });
  try {
    const r = await request(`https://127.0.0.1:${port}${path}`, {
      dispatcher: agent,
      method: body === undefined ? "GET" : "POST",
      ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } }),
    });
    return { status: r.statusCode, text: await r.body.text() };
  } finally {
    await agent.close();
  }
}

function grpcStatus(port: number, client: { cert: Buffer; key: Buffer } | null): Promise<StatusReply> {
  const creds = client === null ? credentials.createSsl(read(dir, "ca.crt")) : credentials.createSsl(read(dir, "ca.crt"), client.key, client.cert);
  const c = new ClientServiceClient(`127.0.0.1:${port}`, creds, { "grpc.ssl_target_name_override": "localhost" });
  return new Promise((resolve, reject) =>
    c.status({}, new Metadata(), { deadline: Date.now() + 5000 }, (e: ServiceError | null, r: StatusReply) => {
      c.close();
      return e ? reject(e) : resolve(r);
    }),
  );
}

const root = () => ({ cert: read(dir, "client.root.crt"), key: read(dir, "client.root.key") });

describe("clients over TLS with required client certificates", () => {
  it("serves appends and reads over HTTPS to a client with a certificate, through every node", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await https(cluster.httpPorts[i]!, "/proposer/client-request", root(), JSON.stringify({ client_id: 10 + i, command_id: 1, payload: 100 + i }));
      expect(r.status, r.text).toBe(200);
    }
    const state = await https(cluster.httpPorts[1]!, "/state", root());
    expect(JSON.parse(state.text)).toEqual({ state: [100, 101, 102] });
  });

  it("answers 403 with a JSON reason, and appends nothing, without a client certificate or with another CA's", async () => {
    for (const client of [null, { cert: read(other, "client.root.crt"), key: read(other, "client.root.key") }]) {
      const r = await https(cluster.httpPorts[0]!, "/proposer/client-request", client, JSON.stringify({ client_id: 99, command_id: 1, payload: 999 }));
      expect(r.status).toBe(403);
      expect(JSON.parse(r.text).error).toMatch(/a client certificate signed by this cluster's CA is required: (no certificate|certificate not signed by this cluster's CA)/);
    }
    expect(JSON.parse((await https(cluster.httpPorts[0]!, "/state", root())).text).state).not.toContain(999);
  });

  it("after SIGHUP, closes connections made under the old certificates and serves new ones", async () => {
    const agent = new Agent({ connect: { ca: read(dir, "ca.crt"), servername: "localhost", ...root() } });
    const get = async () => {
      const r = await request(`https://127.0.0.1:${cluster.httpPorts[2]}/state`, { dispatcher: agent });
      await r.body.text();
      return r.statusCode;
    };
    try {
      let connections = 0;
      agent.on("connect", () => connections++);
      expect(await get()).toBe(200);
      process.kill(cluster.pid(2), "SIGHUP");
      await cluster.waitUntil(async () => cluster.logs.get(2)!.some((l) => l.includes("client TLS certificate reloaded")), 5000, "node 2 to reload");
      expect(await get()).toBe(200);
      expect(connections).toBe(2); // the keep-alive connection from before the reload was closed
    } finally {
      await agent.close();
    }
  });

  it("does not speak plain HTTP on the HTTPS port", async () => {
    await expect(request(`http://127.0.0.1:${cluster.httpPorts[0]}/state`, { headersTimeout: 3000 })).rejects.toThrow();
  });

  it("serves gRPC over TLS to a client with a certificate, and refuses one without (UNAUTHENTICATED, with the reason)", async () => {
    const st = await grpcStatus(cluster.grpcPorts[2]!, root());
    expect(st.id).toBe(2);
    const err = (await grpcStatus(cluster.grpcPorts[2]!, null).catch((e: ServiceError) => e)) as ServiceError;
    expect(err.code).toBe(status.UNAUTHENTICATED);
    expect(err.details).toContain("refuses this connection: no certificate");
  });

  it("buf curl (a strict Go client, as grpcurl) calls the TLS client port with the CA and a client certificate, as docs/security.md shows", async () => {
    const bufCurl = (...args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = execFile(join(ROOT, "node_modules/.bin/buf"), ["curl", "--protocol", "grpc", ...args], { timeout: 30_000 }, (_e, stdout, stderr) =>
          resolve({ code: child.exitCode, stdout: String(stdout), stderr: String(stderr) }),
        );
      });
    const ok = await bufCurl("--cacert", file(dir, "ca.crt"), "--cert", file(dir, "client.root.crt"), "--key", file(dir, "client.root.key"), "-d", "{}", `https://localhost:${cluster.grpcPorts[0]}/paxos.v1.ClientService/Status`);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ peers: expect.any(Array) });
    const refused = await bufCurl("--cacert", file(dir, "ca.crt"), "-d", "{}", `https://localhost:${cluster.grpcPorts[0]}/paxos.v1.ClientService/Status`);
    expect(refused.code).not.toBe(0);
  });

  it("paxos client appends over HTTPS with --cacert, --cert and --key, and says why it is refused without a certificate", async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = execFile(process.execPath, [PAXOS_BIN, "client", cluster.configPath, ...args], { timeout: 30_000 }, (_e, stdout, stderr) =>
          resolve({ code: child.exitCode, stdout: String(stdout), stderr: String(stderr) }),
        );
      });
    const ok = await run(["--server", "1", "--cacert", file(dir, "ca.crt"), "--cert", file(dir, "client.root.crt"), "--key", file(dir, "client.root.key"), "7"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toMatch(/, 7\]$/);
    const refused = await run(["--cacert", file(dir, "ca.crt"), "8"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refused \(HTTP 403\): a client certificate signed by this cluster's CA is required: no certificate/);
  });
});
