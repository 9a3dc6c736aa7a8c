// `paxos start-servers`: one `paxos node` process per config line on this
// machine, with their logs shown compactly; Ctrl-C stops them all cleanly.
//
// Peers use mutual TLS by default: the nodes listen on all interfaces (as the
// contract requires for HTTP), so their peer ports are reachable from the
// network too, and without certificates anyone who reaches one could vote.
// A development CA and certificates are made in DATA_DIR/certs on the first
// start (nothing to do for the user: `npm start` stays one command);
// --insecure-peers turns this off, --certs-dir uses certificates of your own,
// and --tls also serves clients over TLS and requires client certificates.

import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { existsSync } from "node:fs";
import { loadClusterConfig } from "../config/cluster-config.js";
import { CA_CERT_FILE, clientCertPaths, ensureDevCerts } from "../tls/certs.js";
import { UsageError } from "./client-command.js";

export interface StartServersOptions {
  port: number;
  dataDir: string;
  logLevel: string;
  /** Plaintext peer ports (no mutual TLS). */
  insecurePeers?: boolean;
  /** Also serve clients over TLS, requiring client certificates (HTTPS, TLS on the gRPC client port). */
  tls?: boolean;
  /** Certificates of your own (ca.crt, node.crt, node.key) instead of generated ones in DATA_DIR/certs. */
  certsDir?: string;
  clusterToken?: string;
}

/** The TLS flags every node gets, and what to tell the user. */
async function tlsArgs(hosts: readonly string[], o: StartServersOptions): Promise<{ args: string[]; notes: string[] }> {
  if (o.insecurePeers && !o.tls) return { args: [], notes: ["peers: plaintext (--insecure-peers): anyone who reaches a peer port can take part in consensus"] };
  let dir: string;
  const notes: string[] = [];
  if (o.certsDir !== undefined) {
    dir = o.certsDir;
    for (const f of [CA_CERT_FILE, "node.crt", "node.key"]) {
      if (!existsSync(join(dir, f))) throw new UsageError(`--certs-dir ${dir} has no ${f} (make them with \`paxos certs create-ca\` and \`paxos certs create-node\`)`);
    }
  } else {
    dir = join(o.dataDir, "certs");
    const made = await ensureDevCerts(dir, hosts);
    if (made.written.length > 0) notes.push(`made development certificates in ${dir}: ${made.written.map((f) => f.slice(dir.length + 1)).join(", ")}`);
  }
  const [ca, cert, key] = [join(dir, CA_CERT_FILE), join(dir, "node.crt"), join(dir, "node.key")];
  const args: string[] = [];
  if (!o.insecurePeers) {
    args.push("--peer-cert-file", cert, "--peer-key-file", key, "--peer-trusted-ca-file", ca);
    notes.push(`peers: mutual TLS with the CA in ${ca} (--insecure-peers turns it off)`);
  } else {
    notes.push("peers: plaintext (--insecure-peers)");
  }
  if (o.tls) {
    args.push("--cert-file", cert, "--key-file", key, "--trusted-ca-file", ca, "--client-cert-auth");
    const client = clientCertPaths(dir, "root");
    notes.push(
      `clients: TLS with client certificates; for example: curl --cacert ${ca} --cert ${client.cert} --key ${client.key} https://${hosts[0]}:PORT/state`,
    );
  }
  return { args, notes };
}

/** Turns one pino JSON line into `[node 0] 12:00:00.123 INFO msg key=value ...`. */
export function formatLogLine(id: number, line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `[node ${id}] ${line}`;
  }
  const { level, time, msg, pid: _pid, hostname: _host, node: _node, ...rest } = rec;
  const names: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
  const when = typeof time === "number" ? new Date(time).toISOString().slice(11, 23) : "";
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `[node ${id}] ${when} ${names[Number(level)] ?? level} ${String(msg ?? "")}${fields ? " " + fields : ""}`;
}

export async function startServers(configPath: string, entryScript: string, o: StartServersOptions): Promise<number> {
  const nodes = loadClusterConfig(configPath, o.port);
  const tls = await tlsArgs([...new Set(nodes.map((n) => n.host))], o);
  for (const note of tls.notes) console.log(note);
  const token = o.clusterToken === undefined ? [] : ["--cluster-token", o.clusterToken];
  const children: ChildProcess[] = [];
  let stopping = false;
  const exits = nodes.map(
    (n) =>
      new Promise<number>((resolve) => {
        const child = spawn(
          process.execPath,
          [
            entryScript,
            "node",
            configPath,
            "--self",
            String(n.id),
            "--port",
            String(o.port),
            "--data-dir",
            join(o.dataDir, `node-${n.id}`),
            "--log-level",
            o.logLevel,
            ...tls.args,
            ...token,
          ],
          { stdio: ["ignore", "pipe", "pipe"] },
        );
        children.push(child);
        createInterface({ input: child.stdout! }).on("line", (l) => console.log(formatLogLine(n.id, l)));
        createInterface({ input: child.stderr! }).on("line", (l) => console.error(`[node ${n.id}] ${l}`));
        child.on("exit", (code, signal) => {
          if (!stopping || code !== 0) console.error(`[node ${n.id}] exited (${signal ?? `code ${code}`})`);
          resolve(code ?? 1);
        });
        const scheme = o.tls ? "https" : "http";
        console.log(`node ${n.id}: ${scheme}://${n.host}:${n.httpPort}, gRPC ${n.host}:${n.grpcPort}, peers ${n.host}:${n.peerPort}, data ${join(o.dataDir, `node-${n.id}`)}`);
      }),
  );
  const first = nodes[0]!;
  console.log(`live cluster page: ${o.tls ? "https" : "http"}://${first.host}:${first.httpPort}/ui (on every node)`);
  const stop = () => {
    if (stopping) return;
    stopping = true;
    console.log("stopping all nodes...");
    for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  // A closed terminal: the nodes would ignore the hangup (to them SIGHUP reloads certificates) and outlive us.
  process.on("SIGHUP", stop);
  const codes = await Promise.all(exits);
  return codes.every((c) => c === 0) ? 0 : 1;
}
