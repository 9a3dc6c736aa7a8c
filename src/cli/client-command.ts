// `paxos client`: appends one integer through one node, like the old client,
// and prints the new list on one line, e.g. `[1, 2, 3]`.

import { randomInt } from "node:crypto";
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { Agent, request, type Dispatcher } from "undici";
import { dialHost, loadClusterConfig, type NodeAddress } from "../config/cluster-config.js";

export interface ClientOptions {
  port: number;
  server: number;
  timeout: number; // seconds
  /** Ask for the index only (`Prefer: return=minimal`) and print it. */
  minimal?: boolean;
  /** HTTPS: trust this CA (the node's --cert-file must be signed by it and name the config host). */
  cacert?: string;
  /** A client certificate and its key, for nodes started with --client-cert-auth. */
  cert?: string;
  key?: string;
}

/** The connection settings for HTTPS, or null for plain HTTP. */
export function httpsAgent(node: NodeAddress, o: Pick<ClientOptions, "cacert" | "cert" | "key">): Agent | null {
  if ((o.cert === undefined) !== (o.key === undefined)) throw new UsageError("--cert and --key go together");
  if (o.cacert === undefined) {
    if (o.cert !== undefined) throw new UsageError("--cert and --key need --cacert (they are for HTTPS)");
    return null;
  }
  const read = (path: string, flag: string) => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new UsageError(`cannot read ${flag} ${path}: ${(e as Error).message}`);
    }
  };
  return new Agent({
    connect: {
      ca: read(o.cacert, "--cacert"),
      ...(o.cert === undefined ? {} : { cert: read(o.cert, "--cert"), key: read(o.key!, "--key") }),
      // The certificate names the host as the config writes it ("localhost", although we dial 127.0.0.1).
      ...(isIP(node.host) === 0 ? { servername: node.host } : {}),
    },
  });
}

export class UsageError extends Error {}

/** Python's list format, which the old client printed (and which is valid JSON). */
export function formatList(list: readonly number[]): string {
  return `[${list.join(", ")}]`;
}

export function parseIntegerArg(text: string, what: string): number {
  if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`${what} must be an integer, got "${text}"`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${what} ${text} is outside the safe integer range [-(2^53-1), 2^53-1]`);
  return n;
}

type Attempt = { kind: "ok"; output: string } | { kind: "refused"; message: string } | { kind: "retry"; message: string };

async function attempt(node: NodeAddress, body: string, deadline: number, minimal: boolean, agent: Dispatcher | null): Promise<Attempt> {
  try {
    const scheme = agent === null ? "http" : "https";
    const res = await request(`${scheme}://${dialHost(node.host)}:${node.httpPort}/proposer/client-request`, {
      method: "POST",
      ...(agent === null ? {} : { dispatcher: agent }),
      headers: { "content-type": "application/json", ...(minimal ? { prefer: "return=minimal" } : {}) },
      body,
      headersTimeout: Math.max(1, deadline - Date.now()),
      bodyTimeout: Math.max(1, deadline - Date.now()),
    });
    const text = await res.body.text();
    if (res.statusCode === 200) {
      const parsed = JSON.parse(text) as { state?: unknown; index?: unknown };
      if (minimal && typeof parsed.index === "number") return { kind: "ok", output: String(parsed.index) };
      if (!Array.isArray(parsed.state)) return { kind: "retry", message: `unexpected reply ${text}` };
      return { kind: "ok", output: formatList(parsed.state as number[]) };
    }
    const error = (() => {
      try {
        return (JSON.parse(text) as { error?: string }).error ?? text;
      } catch {
        return text;
      }
    })();
    // A 4xx (bad input, a missing client certificate) will be the same on every retry.
    if (res.statusCode >= 400 && res.statusCode < 500) return { kind: "refused", message: `refused (HTTP ${res.statusCode}): ${error}` };
    return { kind: "retry", message: `HTTP ${res.statusCode}: ${error}` };
  } catch (e) {
    return { kind: "retry", message: (e as Error).message };
  }
}

/** Appends with retries of the same (client_id, command_id, payload) until the deadline: retries never double-apply. */
export async function runClient(configPath: string, payloadText: string, o: ClientOptions): Promise<number> {
  const payload = parseIntegerArg(payloadText, "PAYLOAD");
  const nodes = loadClusterConfig(configPath, o.port);
  const node = nodes[o.server];
  if (node === undefined) throw new UsageError(`--server ${o.server} is not in the config (it has ${nodes.length} nodes, numbered from 0)`);
  const agent = httpsAgent(node, o);
  const body = JSON.stringify({ client_id: randomInt(2 ** 47), command_id: 1, payload });
  const deadline = Date.now() + o.timeout * 1000;
  let last = "no attempt";
  while (Date.now() < deadline) {
    const r = await attempt(node, body, deadline, o.minimal ?? false, agent);
    if (r.kind === "ok") {
      console.log(r.output);
      return 0;
    }
    if (r.kind === "refused") {
      console.error(r.message);
      return 2;
    }
    // A certificate the client refuses will not change by retrying: say so at once.
    if (/certificate|self.signed|altname|ERR_TLS|SSL/i.test(r.message)) {
      console.error(`TLS error talking to node ${o.server} (${node.host}:${node.httpPort}): ${r.message}`);
      return 1;
    }
    last = r.message;
    await new Promise((res) => setTimeout(res, Math.min(250, Math.max(0, deadline - Date.now()))));
  }
  console.error(`no reply from node ${o.server} (${node.host}:${node.httpPort}) within ${o.timeout} s: ${last}`);
  return 1;
}
