// `paxos certs` and src/tls/certs.ts, checked with real outside tools: the
// certificates must satisfy OpenSSL's verifier and Node's TLS (a real mutual
// TLS handshake on loopback), and the built command behaves as documented.
// Needs dist/ (`npm run build`), as test/cli does.

import { execFile, spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tls from "node:tls";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CertError,
  createCa,
  createClientCert,
  createNodeCert,
  describeCerts,
  ensureDevCerts,
  parseHost,
  readCertInfo,
  sansForHosts,
} from "../../src/tls/certs.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const PAXOS_BIN = join(ROOT, "bin/paxos.js");
const DAY_MS = 86_400_000;

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "paxos-certs-"));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

let seq = 0;
/** A fresh, not yet existing directory under the test's temp dir. */
function freshDir(label: string): string {
  return join(tmp, `${label}-${seq++}`);
}

const read = (path: string) => readFileSync(path, "utf8");

/** Every file of DIR with its content, to show that a call changed nothing. */
function snapshot(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {};
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, read(join(dir, f))]));
}

// One CA with node and client certificates, and a second, unrelated CA.
let pki: string;
let otherPki: string;
beforeAll(async () => {
  pki = freshDir("pki");
  await createCa(pki);
  await createNodeCert(pki, ["localhost"]);
  await createNodeCert(pki, ["10.0.0.9"], { name: "node-far" }); // never dialled: only its SANs are checked
  await createClientCert(pki, "root");
  otherPki = freshDir("other");
  await createCa(otherPki, { commonName: "some other CA" });
  await createClientCert(otherPki, "root");
});

describe("hosts", () => {
  it("parses IP addresses and DNS names, and refuses the rest", () => {
    expect(parseHost("10.0.0.9")).toEqual({ type: "ip", value: "10.0.0.9" });
    expect(parseHost("[::1]")).toEqual({ type: "ip", value: "::1" });
    expect(parseHost("::ffff:1.2.3.4")).toEqual({ type: "ip", value: "::ffff:102:304" });
    expect(parseHost("Node-1.Example.COM.")).toEqual({ type: "dns", value: "node-1.example.com" });
    expect(parseHost("*.example.com")).toEqual({ type: "dns", value: "*.example.com" });
    for (const bad of ["", " ", "a b", "-x.com", "x_y", "256.1.1.1", "fe80::1%eth0", "*", "a..b", "x".repeat(64)]) {
      expect(() => parseHost(bad), bad).toThrow(CertError);
    }
  });

  it("adds 127.0.0.1 and ::1 for localhost, once", () => {
    expect(sansForHosts(["localhost", "127.0.0.1", "0:0:0:0:0:0:0:1"])).toEqual([
      { type: "dns", value: "localhost" },
      { type: "ip", value: "127.0.0.1" },
      { type: "ip", value: "::1" },
    ]);
  });
});

describe("the certificates", () => {
  it("have the subjects, SANs, usages and lifetimes asked for", () => {
    const ca = readCertInfo(join(pki, "ca.crt"));
    expect(ca.subject).toBe("CN=paxos-ts development CA");
    expect(ca.isCa).toBe(true);
    const days = (i: { notBefore: Date; notAfter: Date }) => (i.notAfter.getTime() - i.notBefore.getTime()) / DAY_MS;
    expect(days(ca)).toBeCloseTo(3650 + 1 / 24, 3); // notBefore is back-dated by an hour
    expect(Math.abs(ca.notBefore.getTime() - (Date.now() - 3_600_000))).toBeLessThan(120_000);

    const node = readCertInfo(join(pki, "node.crt"));
    expect(node.subject).toBe("CN=node");
    expect(node.issuer).toBe("CN=paxos-ts development CA");
    expect(node.sans).toEqual(["DNS:localhost", "IP:127.0.0.1", "IP:::1"]);
    expect(node.extKeyUsage.sort()).toEqual(["clientAuth", "serverAuth"]);
    expect(node.isCa).toBe(false);
    expect(days(node)).toBeCloseTo(1825 + 1 / 24, 3);

    const client = readCertInfo(join(pki, "client.root.crt"));
    expect(client.subject).toBe("CN=root");
    expect(client.sans).toEqual([]);
    expect(client.extKeyUsage).toEqual(["clientAuth"]);

    // Random positive 16-byte serials.
    const serials = [ca, node, client].map((i) => i.serialNumber);
    for (const s of serials) expect(s).toMatch(/^[0-7][0-9A-F]{31}$/);
    expect(new Set(serials).size).toBe(3);
  });

  it("keeps private keys as PKCS#8 PEM with mode 0600", () => {
    for (const dir of [pki, otherPki]) {
      const keys = readdirSync(dir).filter((f) => f.endsWith(".key"));
      expect(keys.length).toBeGreaterThanOrEqual(2);
      for (const k of keys) {
        expect(statSync(join(dir, k)).mode & 0o777, k).toBe(0o600);
        expect(read(join(dir, k))).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      }
    }
  });

  it("are listed with their status against ca.crt", async () => {
    const dir = freshDir("status");
    await createCa(dir);
    await createNodeCert(dir, ["localhost"]);
    await createClientCert(dir, "expired", { now: new Date(Date.now() - 400 * DAY_MS), lifetimeDays: 30 });
    await createClientCert(dir, "future", { now: new Date(Date.now() + 10 * DAY_MS) });
    writeFileSync(join(dir, "client.stranger.crt"), read(join(otherPki, "client.root.crt")));
    writeFileSync(join(dir, "junk.crt"), "not a certificate\n");
    const status = Object.fromEntries(describeCerts(dir).map((l) => [l.file, l.status]));
    expect(status).toMatchObject({
      "ca.crt": "ok",
      "node.crt": "ok",
      "client.expired.crt": "EXPIRED",
      "client.future.crt": "NOT YET VALID",
      "client.stranger.crt": "not signed by ca.crt",
    });
    expect(status["junk.crt"]).toMatch(/^unreadable/);
    expect(describeCerts(dir)[0]!.file).toBe("ca.crt");
  });
});

const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;
if (!hasOpenssl) console.warn("certs.test: `openssl` is not installed (apt-get install openssl): skipping the OpenSSL checks");

function openssl(args: readonly string[]): { code: number | null; out: string } {
  const r = spawnSync("openssl", args, { encoding: "utf8" });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!hasOpenssl)("OpenSSL", () => {
  it("verifies the node and client certificates against the CA, for their purposes", () => {
    const ca = join(pki, "ca.crt");
    for (const [cert, purpose] of [
      ["node.crt", "sslserver"],
      ["node.crt", "sslclient"],
      ["client.root.crt", "sslclient"],
    ] as const) {
      const r = openssl(["verify", "-CAfile", ca, "-purpose", purpose, join(pki, cert)]);
      expect(r.out, `${cert} ${purpose}`).toContain(": OK");
      expect(r.code).toBe(0);
    }
    expect(openssl(["verify", "-CAfile", ca, join(pki, "client.root.crt")]).code).toBe(0);
    // A client certificate is no server certificate, and another CA's is not ours.
    expect(openssl(["verify", "-CAfile", ca, "-purpose", "sslserver", join(pki, "client.root.crt")]).code).not.toBe(0);
    expect(openssl(["verify", "-CAfile", ca, join(otherPki, "client.root.crt")]).code).not.toBe(0);
  });

  it("shows CA:TRUE, the SANs and the extended key usages", () => {
    const ca = openssl(["x509", "-noout", "-text", "-in", join(pki, "ca.crt")]).out;
    expect(ca).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(ca).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(ca).toContain("Subject Key Identifier");
    expect(ca).toContain("ASN1 OID: prime256v1");

    const node = openssl(["x509", "-noout", "-text", "-in", join(pki, "node.crt")]).out;
    expect(node).toContain("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
    expect(node).toContain("TLS Web Server Authentication, TLS Web Client Authentication");
    expect(node).toContain("Authority Key Identifier");
    expect(node).toMatch(/Key Usage: critical\s+Digital Signature/);
    expect(node).toContain("Signature Algorithm: ecdsa-with-SHA256");
    expect(openssl(["x509", "-noout", "-text", "-in", join(pki, "node-far.crt")]).out).toContain("IP Address:10.0.0.9");

    const client = openssl(["x509", "-noout", "-text", "-in", join(pki, "client.root.crt")]).out;
    expect(client).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication\n/);
    expect(client).toContain("Subject: CN = root");
    expect(client).not.toContain("Subject Alternative Name");
  });

  it("reads the private keys as P-256 PKCS#8", () => {
    const r = openssl(["pkey", "-in", join(pki, "node.key"), "-noout", "-text"]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("prime256v1");
  });

  it("signs with a CA made by openssl (RSA key in another file)", async () => {
    const dir = freshDir("rsa-ca");
    mkdirSync(dir);
    const keyFile = join(tmp, `rsa-ca-${seq++}.key`);
    const r = openssl([
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", join(dir, "ca.crt"), "-days", "30",
      "-subj", "/O=Elsewhere/CN=RSA CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    expect(r.code, r.out).toBe(0);
    const w = await createNodeCert(dir, ["localhost"], { caKeyPath: keyFile });
    expect(w.clampedToCaExpiry).toBe(true); // the CA lives 30 days, the certificate cannot outlive it
    expect(w.info.issuer).toBe("O=Elsewhere, CN=RSA CA");
    expect(openssl(["verify", "-CAfile", join(dir, "ca.crt"), "-purpose", "sslserver", w.certPath]).code).toBe(0);
  });
});

// ---------------------------------------------------------------------------
// A real TLS handshake on loopback
// ---------------------------------------------------------------------------

interface Handshake {
  /** What the client saw: authorized, or the error that ended it. */
  clientAuthorized: boolean;
  clientError?: string;
  /** The server's view of the client: its certificate's CN when the handshake succeeded. */
  serverSawClient?: string;
  serverError?: string;
  /** The greeting the server sends after a good handshake. */
  received: string;
}

/** A server with a node certificate that demands a client certificate from ca.crt, and one client connection to it. */
async function handshake(server: { dir: string; name: string }, client: { ca: string; cert?: string; key?: string; servername?: string }): Promise<Handshake> {
  const result: Handshake = { clientAuthorized: false, received: "" };
  const srv = tls.createServer({
    cert: read(join(server.dir, `${server.name}.crt`)),
    key: read(join(server.dir, `${server.name}.key`)),
    ca: read(join(server.dir, "ca.crt")),
    requestCert: true,
    rejectUnauthorized: true,
  });
  srv.on("secureConnection", (s) => {
    result.serverSawClient = s.authorized ? String(s.getPeerCertificate().subject.CN) : `unauthorized: ${String(s.authorizationError)}`;
    s.end("hello");
  });
  // Node checks a client certificate after OpenSSL's handshake and just drops
  // a bad one ("socket hang up"): the reason is the socket's authorizationError.
  srv.on("tlsClientError", (e, s) => {
    result.serverError = `${(e as NodeJS.ErrnoException).code ?? e.message} ${String(s.authorizationError)}`;
  });
  await new Promise<void>((res) => srv.listen(0, "127.0.0.1", res));
  const port = (srv.address() as AddressInfo).port;
  try {
    await new Promise<void>((res) => {
      const sock = tls.connect({
        host: "127.0.0.1",
        port,
        ca: client.ca,
        ...(client.cert !== undefined ? { cert: client.cert, key: client.key } : {}),
        ...(client.servername !== undefined ? { servername: client.servername } : {}),
      });
      sock.setTimeout(5000, () => sock.destroy(new Error("timeout")));
      sock.on("secureConnect", () => {
        result.clientAuthorized = sock.authorized;
      });
      sock.on("data", (d: Buffer) => {
        result.received += d.toString();
      });
      sock.on("error", (e) => {
        result.clientError = (e as NodeJS.ErrnoException).code ?? e.message;
      });
      sock.on("close", () => res());
    });
  } finally {
    await new Promise((res) => srv.close(res));
  }
  return result;
}

describe("Node TLS", () => {
  const caPem = () => read(join(pki, "ca.crt"));

  it("authorizes a node and a client of the same CA, on both sides", async () => {
    const h = await handshake({ dir: pki, name: "node" }, { ca: caPem(), cert: read(join(pki, "client.root.crt")), key: read(join(pki, "client.root.key")) });
    expect(h.clientError).toBeUndefined();
    expect(h.clientAuthorized).toBe(true);
    expect(h.serverSawClient).toBe("root");
    expect(h.received).toBe("hello");
  });

  it("lets a node be the client of another node (clientAuth on node certificates)", async () => {
    const h = await handshake({ dir: pki, name: "node" }, { ca: caPem(), cert: read(join(pki, "node-far.crt")), key: read(join(pki, "node-far.key")), servername: "localhost" });
    expect(h.clientAuthorized).toBe(true);
    expect(h.serverSawClient).toBe("node");
    expect(h.received).toBe("hello");
  });

  it("refuses a client certificate from another CA", async () => {
    const h = await handshake({ dir: pki, name: "node" }, { ca: caPem(), cert: read(join(otherPki, "client.root.crt")), key: read(join(otherPki, "client.root.key")) });
    expect(h.serverSawClient).toBeUndefined();
    expect(h.serverError).toContain("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    expect(h.received).toBe("");
  });

  it("refuses a client without a certificate", async () => {
    const h = await handshake({ dir: pki, name: "node" }, { ca: caPem() });
    expect(h.serverSawClient).toBeUndefined();
    expect(h.serverError).toContain("PEER_DID_NOT_RETURN_A_CERTIFICATE");
    expect(h.received).toBe("");
  });

  it("checks the server's name: 10.0.0.9 is not 127.0.0.1, localhost is 127.0.0.1 and localhost", async () => {
    const far = new X509Certificate(read(join(pki, "node-far.crt"))).toLegacyObject();
    expect(tls.checkServerIdentity("127.0.0.1", far)).toBeInstanceOf(Error);
    expect(tls.checkServerIdentity("10.0.0.9", far)).toBeUndefined();
    const local = new X509Certificate(read(join(pki, "node.crt"))).toLegacyObject();
    for (const host of ["127.0.0.1", "localhost", "::1"]) expect(tls.checkServerIdentity(host, local), host).toBeUndefined();
    expect(tls.checkServerIdentity("127.0.0.2", local)).toBeInstanceOf(Error);

    // And in real handshakes (all on 127.0.0.1, whatever the certificate names).
    const client = { ca: caPem(), cert: read(join(pki, "client.root.crt")), key: read(join(pki, "client.root.key")) };
    const wrong = await handshake({ dir: pki, name: "node-far" }, client);
    expect(wrong.clientError).toBe("ERR_TLS_CERT_ALTNAME_INVALID");
    expect(wrong.received).toBe("");
    const byIp = await handshake({ dir: pki, name: "node" }, client);
    expect(byIp.clientAuthorized).toBe(true);
    const byName = await handshake({ dir: pki, name: "node" }, { ...client, servername: "localhost" });
    expect(byName.clientAuthorized).toBe(true);
    expect(byName.received).toBe("hello");
  });
});

// ---------------------------------------------------------------------------
// ensureDevCerts (for `paxos start-servers`)
// ---------------------------------------------------------------------------

describe("ensureDevCerts", () => {
  it("creates what is missing, then changes nothing on a second call", async () => {
    const dir = freshDir("dev");
    const first = await ensureDevCerts(dir, ["localhost"]);
    expect(first.written.map((p) => p.slice(dir.length + 1)).sort()).toEqual(["ca.crt", "ca.key", "client.root.crt", "client.root.key", "node.crt", "node.key"]);
    expect(first.nodeCert).toBe(join(dir, "node.crt"));
    const before = snapshot(dir);
    const mtimes = readdirSync(dir).map((f) => statSync(join(dir, f)).mtimeMs);
    const second = await ensureDevCerts(dir, ["localhost"]);
    expect(second.written).toEqual([]);
    expect(snapshot(dir)).toEqual(before);
    expect(readdirSync(dir).map((f) => statSync(join(dir, f)).mtimeMs)).toEqual(mtimes);
    // 127.0.0.1 is covered by localhost already: still nothing to do.
    expect((await ensureDevCerts(dir, ["127.0.0.1", "localhost"])).written).toEqual([]);
  });

  it("re-creates the node certificate when a host is added, keeping the CA", async () => {
    const dir = freshDir("dev");
    await ensureDevCerts(dir, ["localhost"]);
    const before = snapshot(dir);
    const r = await ensureDevCerts(dir, ["localhost", "node-7.example.com", "10.1.2.3"]);
    expect(r.written).toEqual([join(dir, "node.crt"), join(dir, "node.key")]);
    const after = snapshot(dir);
    for (const f of ["ca.crt", "ca.key", "client.root.crt", "client.root.key"]) expect(after[f], f).toBe(before[f]);
    expect(after["node.crt"]).not.toBe(before["node.crt"]);
    expect(readCertInfo(r.nodeCert).sans).toEqual(["DNS:localhost", "IP:127.0.0.1", "IP:::1", "DNS:node-7.example.com", "IP:10.1.2.3"]);
    expect((await ensureDevCerts(dir, ["localhost", "node-7.example.com", "10.1.2.3"])).written).toEqual([]);
  });

  it("re-creates expired certificates and ones another CA signed", async () => {
    const dir = freshDir("dev");
    await ensureDevCerts(dir, ["localhost"], new Date(Date.now() - 2000 * DAY_MS)); // CA still valid, leaves (1825 days) expired
    const caBefore = read(join(dir, "ca.crt"));
    expect(describeCerts(dir).find((l) => l.file === "node.crt")!.status).toBe("EXPIRED");
    const r = await ensureDevCerts(dir, ["localhost"]);
    expect(r.written.sort()).toEqual([join(dir, "client.root.crt"), join(dir, "client.root.key"), join(dir, "node.crt"), join(dir, "node.key")]);
    expect(read(join(dir, "ca.crt"))).toBe(caBefore);
    expect(describeCerts(dir).every((l) => l.status === "ok")).toBe(true);

    writeFileSync(join(dir, "node.crt"), read(join(otherPki, "client.root.crt")));
    writeFileSync(join(dir, "node.key"), read(join(otherPki, "client.root.key")));
    expect((await ensureDevCerts(dir, ["localhost"])).written).toEqual([join(dir, "node.crt"), join(dir, "node.key")]);
    expect(describeCerts(dir).find((l) => l.file === "node.crt")!.status).toBe("ok");
  });

  it("refuses bad hosts and a CA without its key, writing nothing", async () => {
    const dir = freshDir("dev");
    await expect(ensureDevCerts(dir, ["a b"])).rejects.toThrow(CertError);
    expect(existsSync(dir)).toBe(false);
    await ensureDevCerts(dir, ["localhost"]);
    rmSync(join(dir, "ca.key"));
    rmSync(join(dir, "node.crt"));
    await expect(ensureDevCerts(dir, ["localhost"])).rejects.toThrow(/ca\.key is missing/);
    expect(existsSync(join(dir, "node.crt"))).toBe(false);
  });
});

// ---------------------------------------------------------------------------
// The built command
// ---------------------------------------------------------------------------

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function paxos(args: readonly string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [PAXOS_BIN, ...args], { cwd: tmp, timeout: 20_000, killSignal: "SIGKILL" }, (_err, stdout, stderr) => {
      resolve({ code: child.exitCode, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

// Each run loads the whole `paxos` program (about 1 s here): room for a busy machine.
describe("paxos certs", { timeout: 90_000 }, () => {
  it("creates a CA, node and client certificates, and lists them", async () => {
    const dir = freshDir("cli");
    const ca = await paxos(["certs", "create-ca", "--certs-dir", dir]);
    expect(ca.stderr).toBe("");
    expect(ca.code).toBe(0);
    expect(ca.stdout).toContain(`wrote ${join(dir, "ca.crt")}`);
    expect(ca.stdout).toContain("subject:  CN=paxos-ts development CA");
    expect(ca.stdout).toContain(`wrote ${join(dir, "ca.key")} (private key, mode 0600)`);

    const node = await paxos(["certs", "create-node", "localhost", "10.0.0.9", "db.example.com", "--certs-dir", dir]);
    expect(node.stderr).toBe("");
    expect(node.code).toBe(0);
    expect(node.stdout).toContain("SANs:     DNS:localhost, IP:127.0.0.1, IP:::1, IP:10.0.0.9, DNS:db.example.com");
    expect(node.stdout).toContain("usage:    serverAuth, clientAuth");
    expect(node.stdout).toMatch(/valid: +\S+Z to \S+Z/);

    const named = await paxos(["certs", "create-node", "127.0.0.1", "--name", "node-0", "--certs-dir", dir, "--lifetime-days", "10"]);
    expect(named.code).toBe(0);
    const info = readCertInfo(join(dir, "node-0.crt"));
    expect((info.notAfter.getTime() - info.notBefore.getTime()) / DAY_MS).toBeCloseTo(10 + 1 / 24, 3);

    const client = await paxos(["certs", "create-client", "root", "--certs-dir", dir]);
    expect(client.code).toBe(0);
    expect(client.stdout).toContain(`wrote ${join(dir, "client.root.crt")}`);
    expect(client.stdout).toContain("subject:  CN=root");
    expect(client.stdout).toContain("usage:    clientAuth");

    for (const f of ["ca.key", "node.key", "node-0.key", "client.root.key"]) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);

    const list = await paxos(["certs", "list", "--certs-dir", dir]);
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^FILE +SUBJECT +SANS +VALID FROM +VALID UNTIL +STATUS$/);
    expect(lines.slice(1).map((l) => l.split(/ +/)[0])).toEqual(["ca.crt", "client.root.crt", "node-0.crt", "node.crt"]);
    for (const l of lines.slice(1)) expect(l).toMatch(/ ok$/);
    expect(list.stdout).toContain("DNS:localhost,IP:127.0.0.1,IP:::1,IP:10.0.0.9,DNS:db.example.com");
  });

  it("writes one node certificate per config line", async () => {
    const dir = freshDir("cli");
    expect((await paxos(["certs", "create-ca", "--certs-dir", dir])).code).toBe(0);
    const config = join(tmp, `config-${seq++}`);
    writeFileSync(config, "localhost:5000\n\n10.0.0.2:5001\n  db.example.com  \n");
    const r = await paxos(["certs", "create-node", "--config", config, "--certs-dir", dir]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readCertInfo(join(dir, "node-0.crt")).sans).toEqual(["DNS:localhost", "IP:127.0.0.1", "IP:::1"]);
    expect(readCertInfo(join(dir, "node-1.crt")).sans).toEqual(["IP:10.0.0.2"]);
    expect(readCertInfo(join(dir, "node-2.crt")).sans).toEqual(["DNS:db.example.com"]);
    expect(existsSync(join(dir, "node.crt"))).toBe(false);
    // Again: every file is in the way, nothing is touched.
    const before = snapshot(dir);
    const again = await paxos(["certs", "create-node", "--config", config, "--certs-dir", dir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^paxos: .*node-0\.crt.*already exist.*--overwrite/);
    expect(snapshot(dir)).toEqual(before);
  });

  it("refuses to overwrite without --overwrite (exit 2, file unchanged), and overwrites with it", async () => {
    const dir = freshDir("cli");
    expect((await paxos(["certs", "create-ca", "--certs-dir", dir])).code).toBe(0);
    expect((await paxos(["certs", "create-client", "root", "--certs-dir", dir])).code).toBe(0);
    const before = snapshot(dir);
    for (const args of [["create-ca"], ["create-client", "root"]]) {
      const r = await paxos(["certs", ...args, "--certs-dir", dir]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/^paxos: .*already exist.*pass --overwrite/);
      expect(r.stdout).toBe("");
    }
    expect(snapshot(dir)).toEqual(before);
    const r = await paxos(["certs", "create-client", "root", "--certs-dir", dir, "--overwrite"]);
    expect(r.code).toBe(0);
    const after = snapshot(dir);
    expect(after["client.root.crt"]).not.toBe(before["client.root.crt"]);
    expect(after["ca.crt"]).toBe(before["ca.crt"]);
    expect(statSync(join(dir, "client.root.key")).mode & 0o777).toBe(0o600);
  });

  it("refuses bad input with exit 2 and writes nothing", async () => {
    const dir = freshDir("cli");
    expect((await paxos(["certs", "create-ca", "--certs-dir", dir])).code).toBe(0);
    const before = snapshot(dir);
    const cases: [string[], RegExp][] = [
      [["create-node", "a b"], /"a b" is neither an IP address nor a valid DNS host name/],
      [["create-node", ""], /host must not be empty/],
      [["create-node", "localhost", "bad_host!"], /"bad_host!"/],
      [["create-node"], /at least one HOST/],
      [["create-node", "localhost", "--name", "../evil"], /name "\.\.\/evil"/],
      [["create-client", "ro ot"], /user name "ro ot"/],
      [["create-client", "root/../x"], /user name/],
      [["create-client", "root", "--lifetime-days", "0"], /--lifetime-days must be in/],
      [["create-client", "root", "--lifetime-days", "ten"], /--lifetime-days must be a whole number/],
      [["create-node", "localhost", "--config", "whatever"], /either HOSTs or --config/],
      [["create-node", "--config", join(tmp, "no-such-config")], /cannot read config file/],
    ];
    // Side by side: each is a separate process, and none may write anything.
    const results = await Promise.all(cases.map(([args]) => paxos(["certs", ...args, "--certs-dir", dir])));
    for (const [i, [args, message]] of cases.entries()) {
      const r = results[i]!;
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(/^paxos: /);
      expect(r.stderr, args.join(" ")).toMatch(message);
    }
    // Commander's own usage errors exit 2 as well.
    const missingUser = await paxos(["certs", "create-client", "--certs-dir", dir]);
    expect(missingUser.code).toBe(2);
    expect(missingUser.stderr).toContain("missing required argument 'user'");
    expect(snapshot(dir)).toEqual(before);
  });

  it("needs an existing CA (certificate and key)", async () => {
    const dir = freshDir("cli");
    const none = await paxos(["certs", "create-node", "localhost", "--certs-dir", dir]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^paxos: no CA: .*ca\.crt and .*ca\.key missing; run `paxos certs create-ca/);
    expect(existsSync(dir)).toBe(false);

    // A CA key kept apart (--ca-key) is needed by create-client too.
    const keyDir = freshDir("cli-keys");
    expect((await paxos(["certs", "create-ca", "--certs-dir", dir, "--ca-key", join(keyDir, "my-ca.key")])).code).toBe(0);
    expect(existsSync(join(dir, "ca.key"))).toBe(false);
    const noKey = await paxos(["certs", "create-client", "root", "--certs-dir", dir]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/ca\.key missing/);
    expect(existsSync(join(dir, "client.root.crt"))).toBe(false);
    const withKey = await paxos(["certs", "create-client", "root", "--certs-dir", dir, "--ca-key", join(keyDir, "my-ca.key")]);
    expect(withKey.code).toBe(0);
    // The other CA's key does not sign for this ca.crt.
    const wrongKey = await paxos(["certs", "create-node", "localhost", "--certs-dir", dir, "--ca-key", join(otherPki, "ca.key")]);
    expect(wrongKey.code).toBe(2);
    expect(wrongKey.stderr).toMatch(/does not belong to/);
  });

  it("lists statuses, and says so for an empty or missing directory", async () => {
    const dir = freshDir("cli");
    await createCa(dir);
    await createClientCert(dir, "old", { now: new Date(Date.now() - 100 * DAY_MS), lifetimeDays: 1 });
    writeFileSync(join(dir, "client.foreign.crt"), read(join(otherPki, "client.root.crt")));
    const r = await paxos(["certs", "list", "--certs-dir", dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/client\.old\.crt .* EXPIRED\n/);
    expect(r.stdout).toMatch(/client\.foreign\.crt .* not signed by ca\.crt\n/);
    const empty = freshDir("cli");
    mkdirSync(empty);
    expect((await paxos(["certs", "list", "--certs-dir", empty])).stdout).toContain("no certificates");
    const missing = await paxos(["certs", "list", "--certs-dir", freshDir("cli")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^paxos: cannot read certs directory/);
  });
});
