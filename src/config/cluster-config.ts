// The cluster config file of the contract: one node per line, `host:port` or
// `host` alone (then the default port, 5000, or --port). Blank lines and
// surrounding whitespace are ignored. The port is the node's HTTP port.
//
// Each node also listens on two gRPC ports: the client API (ClientService
// and reflection, for grpcurl) on its HTTP port + GRPC_PORT_OFFSET, and the
// peer protocol (PeerService, which only other nodes should reach, with
// mutual TLS when configured) on its HTTP port + PEER_PORT_OFFSET; either
// can be given explicitly: `host:httpPort:grpcPort:peerPort`. A node's id is
// its 0-based line number among the non-blank lines.

import { readFileSync } from "node:fs";

export const DEFAULT_HTTP_PORT = 5000;
export const GRPC_PORT_OFFSET = 1000;
export const PEER_PORT_OFFSET = 2000;

export interface NodeAddress {
  readonly id: number;
  readonly host: string;
  readonly httpPort: number;
  /** gRPC for clients: ClientService and reflection. */
  readonly grpcPort: number;
  /** gRPC for the other nodes: PeerService. */
  readonly peerPort: number;
  /** The line as written (trimmed), for messages. */
  readonly line: string;
}

export class ConfigError extends Error {}

function parsePort(text: string, what: string, line: string, where: string): number {
  if (!/^\d+$/.test(text)) throw new ConfigError(`bad ${what} "${text}" in ${where} "${line}"`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw new ConfigError(`${what} ${port} out of range 1-65535 in ${where} "${line}"`);
  return port;
}

/** One node's address as a config line writes it (host, host:port, ... host:port:grpcPort:peerPort). */
export function parseNodeLine(line: string, id: number, defaultPort = DEFAULT_HTTP_PORT, where = "config line"): NodeAddress {
  const parts = line.split(":");
  if (parts.length > 4 || parts[0] === "" || /\s/.test(parts[0]!)) {
    throw new ConfigError(`bad ${where} "${line}": expected host, host:port, host:port:grpcPort or host:port:grpcPort:peerPort`);
  }
  const host = parts[0]!;
  const httpPort = parts[1] !== undefined ? parsePort(parts[1], "port", line, where) : defaultPort;
  const derived = (field: string | undefined, what: string, offset: number, form: string) => {
    if (field !== undefined) return parsePort(field, what, line, where);
    const port = httpPort + offset;
    if (port > 65535) throw new ConfigError(`${what} ${port} (HTTP port + ${offset}) out of range in ${where} "${line}"; give it explicitly as ${form}`);
    return port;
  };
  const grpcPort = derived(parts[2], "gRPC port", GRPC_PORT_OFFSET, "host:port:grpcPort");
  const peerPort = derived(parts[3], "peer port", PEER_PORT_OFFSET, "host:port:grpcPort:peerPort");
  if (new Set([httpPort, grpcPort, peerPort]).size < 3) {
    throw new ConfigError(`${where} "${line}" uses one port for two purposes (HTTP ${httpPort}, gRPC ${grpcPort}, peer ${peerPort})`);
  }
  return { id, host, httpPort, grpcPort, peerPort, line };
}

export function parseClusterConfig(text: string, defaultPort = DEFAULT_HTTP_PORT): NodeAddress[] {
  const nodes: NodeAddress[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "") continue;
    nodes.push(parseNodeLine(line, nodes.length, defaultPort));
  }
  if (nodes.length === 0) throw new ConfigError("the config lists no nodes");
  const seen = new Set<string>();
  for (const n of nodes) {
    for (const key of [`${n.host}:${n.httpPort}`, `${n.host}:${n.grpcPort}`, `${n.host}:${n.peerPort}`]) {
      if (seen.has(key)) throw new ConfigError(`two nodes share the address ${key}`);
      seen.add(key);
    }
  }
  return nodes;
}

/** A node's address as the membership records it: host:httpPort:grpcPort:peerPort. */
export function memberAddress(n: Pick<NodeAddress, "host" | "httpPort" | "grpcPort" | "peerPort">): string {
  return `${n.host}:${n.httpPort}:${n.grpcPort}:${n.peerPort}`;
}

/** The address of member `id` from the membership's "host:httpPort:grpcPort:peerPort". */
export function memberNodeAddress(id: number, address: string): NodeAddress {
  return parseNodeLine(address, id, DEFAULT_HTTP_PORT, "member address");
}

export function loadClusterConfig(path: string, defaultPort = DEFAULT_HTTP_PORT): NodeAddress[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  return parseClusterConfig(text, defaultPort);
}

/**
 * The address to connect to. Node 20 may resolve "localhost" to ::1 first
 * while our servers listen on IPv4 0.0.0.0, so loopback names become 127.0.0.1.
 */
export function dialHost(host: string): string {
  return host === "localhost" ? "127.0.0.1" : host;
}

/** Finds this node's line: by index, or by host or host:port as written in the config. */
export function findSelf(nodes: readonly NodeAddress[], self: string): NodeAddress {
  if (/^\d+$/.test(self)) {
    const n = nodes[Number(self)];
    if (n === undefined) throw new ConfigError(`node index ${self} is not in the config (it has ${nodes.length} nodes)`);
    return n;
  }
  const matches = nodes.filter((n) => n.host === self || `${n.host}:${n.httpPort}` === self || n.line === self);
  if (matches.length !== 1) {
    throw new ConfigError(
      matches.length === 0
        ? `"${self}" matches no line of the config`
        : `"${self}" matches ${matches.length} lines of the config; give host:port or the index`,
    );
  }
  return matches[0]!;
}

/**
 * A member address as an operator writes it (host:port[:grpcPort[:peerPort]],
 * the other ports defaulting as in the config file), in the membership's
 * form host:httpPort:grpcPort:peerPort; or the problem.
 */
export function normalizeMemberAddress(text: string): string | { problem: string } {
  if (!/^[A-Za-z0-9._-]+(:[0-9]+){0,3}$/.test(text)) {
    return { problem: `bad member address ${JSON.stringify(text.slice(0, 100))}: expected host:port[:grpcPort[:peerPort]] (a host name or IPv4 address, then decimal ports)` };
  }
  try {
    return memberAddress(parseNodeLine(text, -1, DEFAULT_HTTP_PORT, "member address"));
  } catch (e) {
    if (e instanceof ConfigError) return { problem: e.message };
    throw e;
  }
}

