// Development certificates for mutual TLS between nodes and for clients, in the
// style of `cockroach cert`: one CA, node certificates (serverAuth + clientAuth,
// since nodes are servers to each other and clients of each other) and client
// certificates (clientAuth, CN = user name), all in one certs directory:
//
//   ca.crt  ca.key  node.crt  node.key  client.<user>.crt  client.<user>.key
//
// Certificates are built with @peculiar/x509 on Node's WebCrypto (no ASN.1 by
// hand); they are read back with Node's own crypto.X509Certificate, the same
// parser TLS uses. Keys are ECDSA P-256, written as PKCS#8 PEM with mode 0600.

// tsyringe (inside @peculiar/x509) needs the Reflect metadata API at load time;
// this import must come before @peculiar/x509's.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createPrivateKey, KeyObject, randomBytes, webcrypto, X509Certificate } from "node:crypto";
import { chmodSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { basename, dirname, join } from "node:path";

/** Bad input or a refusal (missing CA, file exists): nothing was written. The CLI exits 2 on it. */
export class CertError extends Error {}

export const DEFAULT_CA_COMMON_NAME = "paxos-ts development CA";
export const DEFAULT_CA_LIFETIME_DAYS = 3650;
export const DEFAULT_CERT_LIFETIME_DAYS = 1825;
export const MAX_LIFETIME_DAYS = 36_500;
export const NODE_COMMON_NAME = "node";
export const CA_CERT_FILE = "ca.crt";
export const CA_KEY_FILE = "ca.key";

const DAY_MS = 86_400_000;
/** notBefore is back-dated by this much, so a machine whose clock lags a little still accepts a fresh certificate. */
const CLOCK_SKEW_MS = 3_600_000;
/** RFC 5280's upper bound for a common name. */
const MAX_COMMON_NAME = 64;

const P256: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const ECDSA_SHA256 = { name: "ECDSA", hash: "SHA-256" };

// @peculiar/x509 types its crypto parameters with the DOM's Crypto (not in this
// project's libs); Node's webcrypto is that API, declared apart in @types/node.
type PeculiarCrypto = NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
const crypto = webcrypto as unknown as PeculiarCrypto;

// ---------------------------------------------------------------------------
// Input checks
// ---------------------------------------------------------------------------

export type SanEntry = { type: "ip"; value: string } | { type: "dns"; value: string };

/** An IPv6 address in the uncompressed 8-group form (an embedded IPv4 tail becomes two groups), which @peculiar/x509 encodes. */
function ipv6Groups(ip: string): string {
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(ip);
  if (m === null) return ip;
  const b = m[2]!.split(".").map(Number);
  const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
  return `${m[1]}${hex(b[0]!, b[1]!)}:${hex(b[2]!, b[3]!)}`;
}

const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * One host as given on the command line or in a config: an IPv4/IPv6 address
 * (IPv6 optionally in brackets) or a DNS name (a leading `*.` wildcard is
 * allowed). Throws CertError naming the problem.
 */
export function parseHost(host: string): SanEntry {
  const text = host.trim();
  if (text === "") throw new CertError("a host must not be empty");
  const unbracketed = /^\[(.*)\]$/.exec(text)?.[1] ?? text;
  if (unbracketed.includes("%")) throw new CertError(`host "${host}": an IPv6 zone (%...) cannot go in a certificate`);
  const family = isIP(unbracketed);
  if (family === 4) return { type: "ip", value: unbracketed };
  if (family === 6) return { type: "ip", value: ipv6Groups(unbracketed.toLowerCase()) };
  const name = text.toLowerCase().replace(/\.$/, "");
  const labels = name.split(".");
  const valid =
    name.length <= 253 &&
    labels.every((l, i) => DNS_LABEL.test(l) || (i === 0 && l === "*" && labels.length > 1)) &&
    !/^\d+$/.test(labels[labels.length - 1]!); // "256.1.1.1" is a bad address, not a name
  if (!valid) throw new CertError(`"${host}" is neither an IP address nor a valid DNS host name`);
  return { type: "dns", value: name };
}

/** The SANs for a list of hosts: `localhost` also brings 127.0.0.1 and ::1 (clients may dial either). Duplicates are dropped. */
export function sansForHosts(hosts: readonly string[]): SanEntry[] {
  if (hosts.length === 0) throw new CertError("a node certificate needs at least one host");
  const out: SanEntry[] = [];
  const seen = new Set<string>();
  const add = (e: SanEntry) => {
    const key = e.type === "ip" ? `ip:${canonicalIp(e.value)}` : `dns:${e.value}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(e);
    }
  };
  for (const h of hosts) {
    const e = parseHost(h);
    add(e);
    if (e.type === "dns" && e.value === "localhost") {
      add({ type: "ip", value: "127.0.0.1" });
      add({ type: "ip", value: "::1" });
    }
  }
  return out;
}

/** One form per address, to compare them (Node's checkIP does the real matching). */
function canonicalIp(ip: string): string {
  if (isIP(ip) === 4) return ip.split(".").map(Number).join(".");
  const [left, right] = ipv6Groups(ip).split("::") as [string, string | undefined];
  const l = left === "" ? [] : left.split(":");
  const r = right === undefined || right === "" ? [] : right.split(":");
  const groups = right === undefined ? l : [...l, ...Array<string>(8 - l.length - r.length).fill("0"), ...r];
  return groups.map((g) => parseInt(g, 16).toString(16)).join(":");
}

const NAME_RE = /^[A-Za-z0-9._-]+$/;

/** A user name (client certificate CN and file name): [A-Za-z0-9._-], 1 to 64 characters. */
export function checkUserName(user: string): string {
  if (!NAME_RE.test(user) || user.length > MAX_COMMON_NAME || /^\.+$/.test(user)) {
    throw new CertError(`user name "${user}" must be 1-${MAX_COMMON_NAME} characters of A-Z a-z 0-9 . _ -`);
  }
  return user;
}

/** A certificate file name stem (`--name`): the same characters as a user name. */
export function checkFileStem(name: string): string {
  if (!NAME_RE.test(name) || name.length > 100 || /^\.+$/.test(name)) {
    throw new CertError(`name "${name}" must be 1-100 characters of A-Z a-z 0-9 . _ - (it names NAME.crt and NAME.key)`);
  }
  return name;
}

function checkLifetime(days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > MAX_LIFETIME_DAYS) {
    throw new CertError(`lifetime must be a whole number of days in [1, ${MAX_LIFETIME_DAYS}], got ${days}`);
  }
  return days;
}

// ---------------------------------------------------------------------------
// Reading certificates back
// ---------------------------------------------------------------------------

export interface CertInfo {
  path: string;
  /** e.g. "CN=node" (several attributes joined with ", "). */
  subject: string;
  issuer: string;
  /** e.g. ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]. */
  sans: string[];
  notBefore: Date;
  notAfter: Date;
  serialNumber: string;
  isCa: boolean;
  /** Extended key usages by name where known (serverAuth, clientAuth), else OID; empty when the extension is absent. */
  extKeyUsage: string[];
}

const EKU_NAMES: Record<string, string> = {
  "1.3.6.1.5.5.7.3.1": "serverAuth",
  "1.3.6.1.5.5.7.3.2": "clientAuth",
};

function sansOf(pem: string): string[] {
  // Node gives SANs only as one display string; @peculiar/x509 gives them typed.
  const ext = new x509.X509Certificate(pem).getExtension(x509.SubjectAlternativeNameExtension);
  if (ext === null) return [];
  return ext.names.toJSON().map((n) => (n.type === "dns" ? `DNS:${n.value}` : n.type === "ip" ? `IP:${n.value}` : `${n.type}:${n.value}`));
}

function loadCertificate(path: string): { cert: X509Certificate; pem: string } {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (e) {
    throw new CertError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return { cert: new X509Certificate(pem), pem };
  } catch (e) {
    throw new CertError(`${path} is not a PEM certificate: ${(e as Error).message}`);
  }
}

/** Subject, issuer, SANs, validity and usages of a PEM certificate file. */
export function readCertInfo(path: string): CertInfo {
  const { cert, pem } = loadCertificate(path);
  return infoOf(path, cert, pem);
}

function infoOf(path: string, cert: X509Certificate, pem: string): CertInfo {
  return {
    path,
    subject: cert.subject.split("\n").join(", "),
    issuer: cert.issuer.split("\n").join(", "),
    sans: sansOf(pem),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    serialNumber: cert.serialNumber,
    isCa: cert.ca,
    extKeyUsage: (cert.keyUsage ?? []).map((oid) => EKU_NAMES[oid] ?? oid),
  };
}

export type CertStatus = "ok" | "EXPIRED" | "NOT YET VALID" | "not signed by ca.crt" | "no ca.crt to check against";

function signedBy(cert: X509Certificate, ca: X509Certificate): boolean {
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

function statusOf(cert: X509Certificate, ca: X509Certificate | undefined, now: Date): CertStatus {
  if (ca === undefined) return "no ca.crt to check against";
  if (!signedBy(cert, ca)) return "not signed by ca.crt";
  if (now.getTime() > new Date(cert.validTo).getTime()) return "EXPIRED";
  if (now.getTime() < new Date(cert.validFrom).getTime()) return "NOT YET VALID";
  return "ok";
}

export interface CertListing {
  file: string;
  /** Present unless the file could not be read as a certificate. */
  info?: CertInfo;
  /** A CertStatus, or "unreadable: ..." for a file that is no certificate. */
  status: string;
}

/** Every *.crt in DIR (ca.crt first), each with its status against DIR/ca.crt. */
export function describeCerts(dir: string, now = new Date()): CertListing[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith(".crt"));
  } catch (e) {
    throw new CertError(`cannot read certs directory ${dir}: ${(e as Error).message}`);
  }
  names.sort((a, b) => (a === CA_CERT_FILE ? -1 : b === CA_CERT_FILE ? 1 : a.localeCompare(b)));
  let ca: X509Certificate | undefined;
  try {
    ca = names.includes(CA_CERT_FILE) ? loadCertificate(join(dir, CA_CERT_FILE)).cert : undefined;
  } catch {
    ca = undefined; // its own row says why
  }
  return names.map((file) => {
    try {
      const { cert, pem } = loadCertificate(join(dir, file));
      return { file, info: infoOf(join(dir, file), cert, pem), status: statusOf(cert, ca, now) };
    } catch (e) {
      return { file, status: `unreadable: ${(e as Error).message}` };
    }
  });
}

// ---------------------------------------------------------------------------
// Keys and files
// ---------------------------------------------------------------------------

/** A CA signing key, as WebCrypto wants it, and the signature algorithm that goes with it. */
interface Signer {
  key: webcrypto.CryptoKey;
  algorithm: { name: string; hash: string };
}

const CURVES: Record<string, { namedCurve: string; hash: string }> = {
  prime256v1: { namedCurve: "P-256", hash: "SHA-256" },
  secp384r1: { namedCurve: "P-384", hash: "SHA-384" },
  secp521r1: { namedCurve: "P-521", hash: "SHA-512" },
};

/** Imports a CA private key of any PEM form Node reads (PKCS#8, SEC1, PKCS#1): ours are P-256, a CA made elsewhere may be RSA. */
async function loadSigner(path: string): Promise<{ signer: Signer; keyObject: KeyObject }> {
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(readFileSync(path));
  } catch (e) {
    throw new CertError(`cannot read the CA key ${path}: ${(e as Error).message}`);
  }
  const der = keyObject.export({ type: "pkcs8", format: "der" });
  let importAlg: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams;
  let algorithm: Signer["algorithm"];
  const type = keyObject.asymmetricKeyType;
  const curve = CURVES[keyObject.asymmetricKeyDetails?.namedCurve ?? ""];
  if (type === "ec" && curve !== undefined) {
    importAlg = { name: "ECDSA", namedCurve: curve.namedCurve };
    algorithm = { name: "ECDSA", hash: curve.hash };
  } else if (type === "rsa") {
    importAlg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    algorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  } else {
    throw new CertError(`the CA key ${path} is a ${type ?? "unknown"} key; only ECDSA (P-256/384/521) and RSA CA keys can sign`);
  }
  const key = await webcrypto.subtle.importKey("pkcs8", der, importAlg, false, ["sign"]);
  return { signer: { key, algorithm }, keyObject };
}

function pemOfPrivateKey(key: webcrypto.CryptoKey): string {
  return String(KeyObject.from(key).export({ type: "pkcs8", format: "pem" }));
}

/**
 * Writes a file through a temporary one in the same directory, so a reader
 * never sees half of it: renamed over the target with overwrite, else linked
 * (which fails if the target appeared meanwhile, never clobbering it).
 */
function writeFileAtomic(path: string, data: string, mode: number, overwrite: boolean): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  writeFileSync(tmp, data, { mode, flag: "wx" });
  chmodSync(tmp, mode); // the umask may have taken bits away; a key must be exactly 0600
  try {
    if (overwrite) {
      renameSync(tmp, path);
      return;
    }
    try {
      linkSync(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new CertError(`${path} already exists; pass --overwrite to replace it`);
      throw e;
    }
  } finally {
    if (existsSync(tmp)) unlinkSync(tmp);
  }
}

function refuseExisting(paths: readonly string[], overwrite: boolean): void {
  if (overwrite) return;
  const existing = paths.filter((p) => existsSync(p));
  if (existing.length > 0) {
    throw new CertError(`${existing.join(" and ")} already exist${existing.length === 1 ? "s" : ""}; pass --overwrite to replace (nothing was written)`);
  }
}

function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** A random positive 16-byte serial: the top bit cleared so DER needs no sign byte, the first byte non-zero so it stays 16 bytes. */
function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) || 0x01;
  return b.toString("hex");
}

function validity(now: Date, lifetimeDays: number): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(now.getTime() - CLOCK_SKEW_MS), notAfter: new Date(now.getTime() + lifetimeDays * DAY_MS) };
}

// ---------------------------------------------------------------------------
// Creating certificates
// ---------------------------------------------------------------------------

export interface WrittenCert {
  certPath: string;
  keyPath: string;
  info: CertInfo;
  /** Set when the requested lifetime went past the CA's own expiry and was cut to it. */
  clampedToCaExpiry?: boolean;
}

export interface CaOptions {
  /** Where the CA key goes / is read from (default DIR/ca.key). */
  caKeyPath?: string;
  commonName?: string;
  lifetimeDays?: number;
  overwrite?: boolean;
  /** The current time (tests use it to make expired certificates). */
  now?: Date;
}

/** Creates DIR/ca.crt and its key (ECDSA P-256, self-signed, CA:TRUE pathlen 0). */
export async function createCa(dir: string, opts: CaOptions = {}): Promise<WrittenCert> {
  const commonName = opts.commonName ?? DEFAULT_CA_COMMON_NAME;
  if (commonName.trim() === "" || commonName.length > MAX_COMMON_NAME) throw new CertError(`the CA common name must be 1-${MAX_COMMON_NAME} characters`);
  const lifetime = checkLifetime(opts.lifetimeDays ?? DEFAULT_CA_LIFETIME_DAYS);
  const certPath = join(dir, CA_CERT_FILE);
  const keyPath = opts.caKeyPath ?? join(dir, CA_KEY_FILE);
  refuseExisting([certPath, keyPath], opts.overwrite ?? false);

  const keys = (await webcrypto.subtle.generateKey(P256, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      name: [{ CN: [commonName] }], // JSON form: no DN-string escaping of the user's text
      ...validity(opts.now ?? new Date(), lifetime),
      signingAlgorithm: ECDSA_SHA256,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  ensureDir(dir);
  ensureDir(dirname(keyPath));
  const certPem = cert.toString("pem") + "\n";
  // Key first: a ca.crt without its key would block a retry for no use.
  writeFileAtomic(keyPath, pemOfPrivateKey(keys.privateKey), 0o600, opts.overwrite ?? false);
  writeFileAtomic(certPath, certPem, 0o644, opts.overwrite ?? false);
  return { certPath, keyPath, info: infoOf(certPath, new X509Certificate(certPem), certPem) };
}

export interface LeafOptions {
  /** The CA key (default DIR/ca.key). */
  caKeyPath?: string;
  lifetimeDays?: number;
  overwrite?: boolean;
  now?: Date;
}

interface LoadedCa {
  cert: X509Certificate;
  peculiar: x509.X509Certificate;
  signer: Signer;
}

/** Loads DIR/ca.crt and the CA key, and checks that they belong together. */
async function loadCa(dir: string, caKeyPath: string | undefined): Promise<LoadedCa> {
  const certPath = join(dir, CA_CERT_FILE);
  const keyPath = caKeyPath ?? join(dir, CA_KEY_FILE);
  const missing = [certPath, keyPath].filter((p) => !existsSync(p));
  if (missing.length > 0) {
    throw new CertError(`no CA: ${missing.join(" and ")} missing; run \`paxos certs create-ca --certs-dir ${dir}\` first${caKeyPath !== undefined ? " (or fix --ca-key)" : ""}`);
  }
  const { cert, pem } = loadCertificate(certPath);
  if (!cert.ca) throw new CertError(`${certPath} is not a CA certificate (basicConstraints CA:FALSE)`);
  const { signer, keyObject } = await loadSigner(keyPath);
  if (!cert.checkPrivateKey(keyObject)) throw new CertError(`the CA key ${keyPath} does not belong to ${certPath}`);
  return { cert, peculiar: new x509.X509Certificate(pem), signer };
}

interface LeafSpec {
  certPath: string;
  keyPath: string;
  commonName: string;
  extKeyUsage: string[];
  sans?: SanEntry[];
}

async function signLeaf(ca: LoadedCa, spec: LeafSpec, lifetimeDays: number, now: Date): Promise<{ certPem: string; keyPem: string; clamped: boolean }> {
  const keys = (await webcrypto.subtle.generateKey(P256, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const caSki = ca.peculiar.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki =
    caSki !== null
      ? new x509.AuthorityKeyIdentifierExtension(caSki.keyId, false)
      : await x509.AuthorityKeyIdentifierExtension.create(ca.peculiar.publicKey, false, crypto);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(spec.extKeyUsage, false),
    aki,
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
  ];
  if (spec.sans !== undefined) extensions.push(new x509.SubjectAlternativeNameExtension(spec.sans, false));
  // A certificate that outlives its CA is of no use: cut it to the CA's expiry.
  const v = validity(now, lifetimeDays);
  const caExpiry = new Date(ca.cert.validTo);
  const clamped = v.notAfter.getTime() > caExpiry.getTime();
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject: [{ CN: [spec.commonName] }],
      issuer: ca.peculiar.subjectName, // the CA's own encoding, so chain building matches it byte for byte
      notBefore: v.notBefore,
      notAfter: clamped ? caExpiry : v.notAfter,
      signingAlgorithm: ca.signer.algorithm,
      publicKey: keys.publicKey,
      signingKey: ca.signer.key,
      extensions,
    },
    crypto,
  );
  return { certPem: cert.toString("pem") + "\n", keyPem: pemOfPrivateKey(keys.privateKey), clamped };
}

/** Signs and writes several leaf certificates, after checking that none of their files is in the way. */
async function createLeaves(dir: string, specs: readonly LeafSpec[], opts: LeafOptions): Promise<WrittenCert[]> {
  const lifetime = checkLifetime(opts.lifetimeDays ?? DEFAULT_CERT_LIFETIME_DAYS);
  const ca = await loadCa(dir, opts.caKeyPath);
  const overwrite = opts.overwrite ?? false;
  refuseExisting(specs.flatMap((s) => [s.certPath, s.keyPath]), overwrite);
  const now = opts.now ?? new Date();
  const signed = [];
  for (const s of specs) signed.push({ spec: s, ...(await signLeaf(ca, s, lifetime, now)) });
  const out: WrittenCert[] = [];
  for (const { spec, certPem, keyPem, clamped } of signed) {
    writeFileAtomic(spec.keyPath, keyPem, 0o600, overwrite);
    writeFileAtomic(spec.certPath, certPem, 0o644, overwrite);
    out.push({ certPath: spec.certPath, keyPath: spec.keyPath, info: infoOf(spec.certPath, new X509Certificate(certPem), certPem), ...(clamped ? { clampedToCaExpiry: true } : {}) });
  }
  return out;
}

function nodeSpec(dir: string, name: string, hosts: readonly string[]): LeafSpec {
  checkFileStem(name);
  return {
    certPath: join(dir, `${name}.crt`),
    keyPath: join(dir, `${name}.key`),
    commonName: NODE_COMMON_NAME,
    extKeyUsage: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
    sans: sansForHosts(hosts),
  };
}

export interface NodeCertOptions extends LeafOptions {
  /** File name stem: NAME.crt / NAME.key (default "node"). */
  name?: string;
}

/** Creates DIR/NAME.crt (CN=node, serverAuth + clientAuth, a SAN for every host) signed by DIR/ca.crt. */
export async function createNodeCert(dir: string, hosts: readonly string[], opts: NodeCertOptions = {}): Promise<WrittenCert> {
  const [written] = await createLeaves(dir, [nodeSpec(dir, opts.name ?? "node", hosts)], opts);
  return written!;
}

/** Creates several node certificates at once (e.g. one per config line); checks all of them before writing any. */
export async function createNodeCerts(dir: string, nodes: readonly { name: string; hosts: readonly string[] }[], opts: LeafOptions = {}): Promise<WrittenCert[]> {
  const specs = nodes.map((n) => nodeSpec(dir, n.name, n.hosts));
  const names = new Set(specs.map((s) => s.certPath));
  if (names.size !== specs.length) throw new CertError("two node certificates would have the same file name");
  return createLeaves(dir, specs, opts);
}

export function clientCertPaths(dir: string, user: string): { cert: string; key: string } {
  return { cert: join(dir, `client.${user}.crt`), key: join(dir, `client.${user}.key`) };
}

/** Creates DIR/client.USER.crt (CN=USER, clientAuth only) signed by DIR/ca.crt. */
export async function createClientCert(dir: string, user: string, opts: LeafOptions = {}): Promise<WrittenCert> {
  checkUserName(user);
  const p = clientCertPaths(dir, user);
  const [written] = await createLeaves(dir, [{ certPath: p.cert, keyPath: p.key, commonName: user, extKeyUsage: [x509.ExtendedKeyUsage.clientAuth] }], opts);
  return written!;
}

// ---------------------------------------------------------------------------
// Development defaults for `paxos start-servers`
// ---------------------------------------------------------------------------

export interface DevCerts {
  dir: string;
  caCert: string;
  caKey: string;
  nodeCert: string;
  nodeKey: string;
  clientCert: string;
  clientKey: string;
  /** Files written by this call (empty when everything was already in order). */
  written: string[];
}

/** Why an existing leaf must be made again, or undefined when it is fine. */
function leafProblem(certPath: string, keyPath: string, ca: X509Certificate, now: Date, hosts?: readonly string[]): string | undefined {
  if (!existsSync(certPath) || !existsSync(keyPath)) return "missing";
  let cert: X509Certificate;
  try {
    cert = loadCertificate(certPath).cert;
    if (!cert.checkPrivateKey(createPrivateKey(readFileSync(keyPath)))) return "its key does not match";
  } catch (e) {
    return `unreadable (${(e as Error).message})`;
  }
  const status = statusOf(cert, ca, now);
  if (status !== "ok") return status;
  // Coverage is checked the way TLS will check it: Node's own host and IP matching.
  for (const san of hosts === undefined ? [] : sansForHosts(hosts)) {
    const covered = san.type === "ip" ? cert.checkIP(san.value) !== undefined : cert.checkHost(san.value) !== undefined;
    if (!covered) return `does not cover ${san.value}`;
  }
  return undefined;
}

/**
 * Makes sure DIR holds a CA, a node certificate for HOSTS and a client
 * certificate for root, creating what is missing. The node certificate is made
 * again when it does not cover every host, is expired or not yet valid, or is
 * not signed by DIR/ca.crt; so is the client certificate when invalid. An
 * existing CA is never replaced. A second call with the same hosts writes nothing.
 */
export async function ensureDevCerts(dir: string, hosts: readonly string[], now = new Date()): Promise<DevCerts> {
  sansForHosts(hosts); // bad hosts fail before anything is written
  const caCert = join(dir, CA_CERT_FILE);
  const caKey = join(dir, CA_KEY_FILE);
  const client = clientCertPaths(dir, "root");
  const paths = { dir, caCert, caKey, nodeCert: join(dir, "node.crt"), nodeKey: join(dir, "node.key"), clientCert: client.cert, clientKey: client.key };
  const written: string[] = [];

  const haveCert = existsSync(caCert);
  const haveKey = existsSync(caKey);
  if (!haveCert && !haveKey) {
    await createCa(dir, { now });
    written.push(caCert, caKey);
  } else if (!haveCert || !haveKey) {
    throw new CertError(`${haveCert ? caKey : caCert} is missing but ${haveCert ? caCert : caKey} exists; restore it, or remove ${dir} to start over`);
  }
  const ca = loadCertificate(caCert).cert;
  const caStatus = statusOf(ca, ca, now);
  if (caStatus !== "ok") throw new CertError(`${caCert} is ${caStatus === "not signed by ca.crt" ? "not self-signed" : caStatus}; remove ${dir} to make new development certificates`);

  if (leafProblem(paths.nodeCert, paths.nodeKey, ca, now, hosts) !== undefined) {
    await createNodeCert(dir, hosts, { overwrite: true, now });
    written.push(paths.nodeCert, paths.nodeKey);
  }
  if (leafProblem(paths.clientCert, paths.clientKey, ca, now) !== undefined) {
    await createClientCert(dir, "root", { overwrite: true, now });
    written.push(paths.clientCert, paths.clientKey);
  }
  return { ...paths, written };
}
