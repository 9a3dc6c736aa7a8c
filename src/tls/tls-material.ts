// Certificates and keys as a node uses them: read from PEM files (the
// etcd-style flags), checked before they are used, and read again on SIGHUP.
//
// Checked at load, so a mistake is one clear line at start instead of a
// handshake that fails later without saying why: the certificate is valid
// now (not expired, not yet valid), the key belongs to the certificate, and
// the certificate is signed by the trusted CA.

import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import type { PeerCertificate } from "node:tls";

/** The files of one TLS identity, as given on the command line. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA whose certificates this side trusts (needed to verify the other side's certificate). */
  readonly caFile?: string | undefined;
}

/** What a TLS server or client needs, read and checked. */
export interface TlsMaterial {
  readonly files: TlsFiles;
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | null;
  /** The leaf certificate, parsed (for logs and validity checks). */
  readonly leaf: X509Certificate;
}

export class TlsConfigError extends Error {}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new TlsConfigError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

/** The PEM certificates in a file, each as its own buffer. */
function pemBlocks(pem: Buffer): Buffer[] {
  return (pem.toString("latin1").match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((b) => Buffer.from(b, "latin1"));
}

function parseCert(pem: Buffer, what: string, path: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new TlsConfigError(`${what} ${path} is not a PEM certificate: ${(e as Error).message}`);
  }
}

/** Why a certificate cannot be used at `now`, or null when it can. */
export function validityProblem(cert: X509Certificate, now = new Date()): string | null {
  const from = new Date(cert.validFrom);
  const to = new Date(cert.validTo);
  if (now < from) return `is not valid yet (valid from ${from.toISOString()})`;
  if (now > to) return `expired at ${to.toISOString()}`;
  return null;
}

/** The names a certificate is issued for: its DNS and IP SANs (and its CN when it has no SAN). */
export function certNames(cert: X509Certificate | PeerCertificate): string[] {
  const peer = !(cert instanceof X509Certificate);
  const san = peer ? cert.subjectaltname : cert.subjectAltName;
  if (san) {
    const names: string[] = [];
    for (const entry of san.split(/,\s*/)) {
      const m = /^(DNS|IP Address):(.+)$/.exec(entry);
      if (m) names.push(m[2]!);
    }
    return names;
  }
  const cn = peer ? cert.subject?.CN : /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn === undefined ? [] : Array.isArray(cn) ? cn : [cn];
}

/**
 * Reads and checks one identity. `what` names the flags in messages, e.g.
 * "--peer-cert-file".
 */
export function loadTlsMaterial(files: TlsFiles, flags: { cert: string; key: string; ca: string }, now = new Date()): TlsMaterial {
  const cert = readPem(files.certFile, flags.cert);
  const key = readPem(files.keyFile, flags.key);
  const leaf = parseCert(cert, flags.cert, files.certFile);
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw new TlsConfigError(`${flags.key} ${files.keyFile} is not a PEM private key: ${(e as Error).message}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new TlsConfigError(`${flags.key} ${files.keyFile} is not the key of ${flags.cert} ${files.certFile}`);
  }
  const leafProblem = validityProblem(leaf, now);
  if (leafProblem) throw new TlsConfigError(`${flags.cert} ${files.certFile} ${leafProblem}`);
  if (files.caFile === undefined) return { files, cert, key, ca: null, leaf };
  const ca = readPem(files.caFile, flags.ca);
  const cas = pemBlocks(ca).map((pem) => parseCert(pem, flags.ca, files.caFile!));
  if (cas.length === 0) throw new TlsConfigError(`${flags.ca} ${files.caFile} holds no PEM certificate`);
  // The leaf's issuer is in the CA file, or is an intermediate sent along after the leaf in the certificate file.
  // (TLS verifies the whole chain at every handshake; this catches the usual mistakes at start, with their names.)
  const issuers = [...cas, ...pemBlocks(cert).slice(1).map((pem) => parseCert(pem, flags.cert, files.certFile))];
  const issuer = issuers.find((c) => leaf.checkIssued(c) && leaf.verify(c.publicKey));
  if (issuer === undefined) {
    throw new TlsConfigError(`${flags.cert} ${files.certFile} is not signed by the CA in ${flags.ca} ${files.caFile}`);
  }
  const issuerProblem = validityProblem(issuer, now);
  if (issuerProblem) throw new TlsConfigError(`the CA that signed ${flags.cert} (${issuer.subject.replace(/\n/g, ", ")}) ${issuerProblem}`);
  // An intermediate from the certificate file must itself be signed by the CA file (one level is checked here).
  if (!cas.includes(issuer) && !cas.some((c) => issuer.checkIssued(c) && issuer.verify(c.publicKey))) {
    throw new TlsConfigError(`the intermediate CA in ${flags.cert} ${files.certFile} is not signed by the CA in ${flags.ca} ${files.caFile}`);
  }
  return { files, cert, key, ca, leaf };
}

/** Days before expiry from which loading a certificate warns. */
export const EXPIRY_WARNING_DAYS = 30;

/** One line for logs: who the certificate names and until when it is valid. */
export function describeMaterial(m: TlsMaterial): Record<string, unknown> {
  return { cert: m.files.certFile, names: certNames(m.leaf), validTo: new Date(m.leaf.validTo).toISOString() };
}

/** Days until the certificate expires, when that is soon enough to warn about. */
export function expiresSoon(m: TlsMaterial, now = Date.now()): number | null {
  const days = (Date.parse(m.leaf.validTo) - now) / 86_400_000;
  return days < EXPIRY_WARNING_DAYS ? Math.floor(days) : null;
}
