// `paxos certs`: a development CA, node and client certificates for mutual
// TLS, in the style of `cockroach cert create-ca / create-node / create-client`.
// The work is in src/tls/certs.ts; this file parses flags and prints.

import { CommanderError, type Command } from "commander";
import { DEFAULT_HTTP_PORT, loadClusterConfig } from "../config/cluster-config.js";
import {
  CA_KEY_FILE,
  CertError,
  createCa,
  createClientCert,
  createNodeCert,
  createNodeCerts,
  DEFAULT_CA_COMMON_NAME,
  DEFAULT_CA_LIFETIME_DAYS,
  DEFAULT_CERT_LIFETIME_DAYS,
  describeCerts,
  MAX_LIFETIME_DAYS,
  type CertInfo,
  type WrittenCert,
} from "../tls/certs.js";
import { UsageError } from "./client-command.js";

const DEFAULT_CERTS_DIR = "certs";

interface CommonOptions {
  certsDir: string;
  caKey?: string;
  lifetimeDays?: string;
  overwrite: boolean;
}

/** Options arrive as text and are checked here, so bad values are UsageErrors (exit 2) like every other bad input of this command. */
function wholeNumber(text: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${what} must be a whole number, got "${text}"`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${what} must be in [${min}, ${max}], got ${n}`);
  return n;
}

function lifetime(o: CommonOptions): number | undefined {
  return o.lifetimeDays === undefined ? undefined : wholeNumber(o.lifetimeDays, "--lifetime-days", 1, MAX_LIFETIME_DAYS);
}

/** The library's refusals are usage errors to main(): `paxos: <message>` and exit 2. */
async function asUsage(work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (e) {
    if (e instanceof CertError) throw new UsageError(e.message);
    throw e;
  }
}

const isoSeconds = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, "Z");

function describeWritten(w: WrittenCert, log: (line: string) => void): void {
  const i: CertInfo = w.info;
  log(`wrote ${w.certPath}`);
  log(`  subject:  ${i.subject}`);
  log(`  issuer:   ${i.issuer}`);
  if (i.sans.length > 0) log(`  SANs:     ${i.sans.join(", ")}`);
  if (i.extKeyUsage.length > 0) log(`  usage:    ${i.extKeyUsage.join(", ")}`);
  log(`  valid:    ${isoSeconds(i.notBefore)} to ${isoSeconds(i.notAfter)}${w.clampedToCaExpiry ? " (cut to the CA's expiry)" : ""}`);
  log(`wrote ${w.keyPath} (private key, mode 0600)`);
}

/** Left-aligned columns, two spaces apart. */
function table(rows: readonly string[][]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  "));
}

/** The lines `paxos certs list` prints for DIR. */
export function listCerts(dir: string): string[] {
  const listing = describeCerts(dir);
  if (listing.length === 0) return [`no certificates (*.crt) in ${dir}`];
  const rows = [["FILE", "SUBJECT", "SANS", "VALID FROM", "VALID UNTIL", "STATUS"]];
  for (const l of listing) {
    const i = l.info;
    rows.push(i === undefined ? [l.file, "-", "-", "-", "-", l.status] : [l.file, i.subject, i.sans.join(",") || "-", isoSeconds(i.notBefore), isoSeconds(i.notAfter), l.status]);
  }
  return table(rows);
}

/**
 * Commander's own usage errors (a missing argument, an unknown option) exit 2
 * here too, like every other bad input of `paxos certs`; help still exits 0.
 */
/** Commander's usage errors exit 2, as every paxos usage error does. */
export function usageExitsTwo(cmd: Command): Command {
  return cmd.exitOverride((err) => {
    throw err.exitCode === 0 ? err : new CommanderError(2, err.code, err.message);
  });
}

/**
 * Adds the subcommands of `paxos certs` to a command, e.g. in main.ts:
 * configureCertsCommand(program.command("certs")).
 */
export function configureCertsCommand(cmd: Command, log: (line: string) => void = (line) => console.log(line)): Command {
  usageExitsTwo(cmd).description(
    "Make a development CA, node certificates and client certificates for mutual TLS (like cockroach cert). " +
      `Files go to a certs directory: ca.crt, ${CA_KEY_FILE}, node.crt, node.key, client.<user>.crt, client.<user>.key.`,
  );
  const common = (sub: Command, defaultDays: number) =>
    usageExitsTwo(sub)
      .option("--certs-dir <dir>", "the certs directory", DEFAULT_CERTS_DIR)
      .option("--ca-key <file>", `the CA private key (default <certs-dir>/${CA_KEY_FILE})`)
      .option("--lifetime-days <n>", `days the certificate is valid (default ${defaultDays})`)
      .option("--overwrite", "replace existing files (without it an existing file is never touched)", false);

  common(cmd.command("create-ca").description("Create a CA (ECDSA P-256, self-signed): <certs-dir>/ca.crt and its key."), DEFAULT_CA_LIFETIME_DAYS)
    .option("--common-name <cn>", "the CA's subject CN", DEFAULT_CA_COMMON_NAME)
    .action(async (o: CommonOptions & { commonName: string }) => {
      await asUsage(async () => {
        const w = await createCa(o.certsDir, { caKeyPath: o.caKey, lifetimeDays: lifetime(o) ?? DEFAULT_CA_LIFETIME_DAYS, overwrite: o.overwrite, commonName: o.commonName });
        describeWritten(w, log);
      });
    });

  common(
    cmd
      .command("create-node")
      .description(
        "Create a node certificate signed by the CA (CN=node, serverAuth + clientAuth), valid for every HOST (IP addresses and DNS names; " +
          "localhost also covers 127.0.0.1 and ::1). With --config, one certificate per config line: <name>-<id>.crt naming that line's host.",
      )
      .argument("[hosts...]", "host names and IP addresses the node is reached at"),
    DEFAULT_CERT_LIFETIME_DAYS,
  )
    .option("--config <file>", "cluster config: one certificate per line instead of HOSTs")
    .option("--port <port>", "HTTP port for config lines without one (as for the other commands)")
    .option("--name <name>", "file name: <name>.crt and <name>.key (with --config: <name>-<id>)", "node")
    .action(async (hosts: string[], o: CommonOptions & { config?: string; port?: string; name: string }) => {
      await asUsage(async () => {
        const opts = { caKeyPath: o.caKey, lifetimeDays: lifetime(o), overwrite: o.overwrite };
        if (o.config !== undefined) {
          if (hosts.length > 0) throw new UsageError("give either HOSTs or --config, not both");
          const port = o.port === undefined ? DEFAULT_HTTP_PORT : wholeNumber(o.port, "--port", 1, 65535);
          const nodes = loadClusterConfig(o.config, port); // a bad config is a ConfigError: exit 2 too
          const written = await createNodeCerts(o.certsDir, nodes.map((n) => ({ name: `${o.name}-${n.id}`, hosts: [n.host] })), opts);
          for (const w of written) describeWritten(w, log);
          return;
        }
        if (o.port !== undefined) throw new UsageError("--port only goes with --config");
        if (hosts.length === 0) throw new UsageError("create-node needs at least one HOST, or --config CONFIG");
        describeWritten(await createNodeCert(o.certsDir, hosts, { ...opts, name: o.name }), log);
      });
    });

  common(
    cmd
      .command("create-client")
      .description("Create a client certificate signed by the CA: CN=USER, clientAuth only, in <certs-dir>/client.USER.crt and .key.")
      .argument("<user>", "the user name (A-Z a-z 0-9 . _ -), e.g. root"),
    DEFAULT_CERT_LIFETIME_DAYS,
  ).action(async (user: string, o: CommonOptions) => {
    await asUsage(async () => {
      describeWritten(await createClientCert(o.certsDir, user, { caKeyPath: o.caKey, lifetimeDays: lifetime(o), overwrite: o.overwrite }), log);
    });
  });

  usageExitsTwo(cmd.command("list"))
    .description("List the certificates in the certs directory: subject, SANs, validity, and whether each is valid and signed by ca.crt.")
    .option("--certs-dir <dir>", "the certs directory", DEFAULT_CERTS_DIR)
    .action(async (o: { certsDir: string }) => {
      await asUsage(async () => {
        for (const line of listCerts(o.certsDir)) log(line);
      });
    });

  return cmd;
}
