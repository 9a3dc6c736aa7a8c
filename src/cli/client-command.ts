// `paxos client`: appends one integer through one node, like the old client,
// and prints the new list on one line, e.g. `[1, 2, 3]`.

import { randomInt } from "node:crypto";
import { request } from "undici";
import { dialHost, loadClusterConfig, type NodeAddress } from "../config/cluster-config.js";

export interface ClientOptions {
  port: number;
  server: number;
  timeout: number; // seconds
  /** Ask for the index only (`Prefer: return=minimal`) and print it. */
  minimal?: boolean;
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

async function attempt(node: NodeAddress, body: string, deadline: number, minimal: boolean): Promise<Attempt> {
  try {
    const res = await request(`http://${dialHost(node.host)}:${node.httpPort}/proposer/client-request`, {
      method: "POST",
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
    if (res.statusCode === 400) return { kind: "refused", message: `refused: ${error}` };
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
  const body = JSON.stringify({ client_id: randomInt(2 ** 47), command_id: 1, payload });
  const deadline = Date.now() + o.timeout * 1000;
  let last = "no attempt";
  while (Date.now() < deadline) {
    const r = await attempt(node, body, deadline, o.minimal ?? false);
    if (r.kind === "ok") {
      console.log(r.output);
      return 0;
    }
    if (r.kind === "refused") {
      console.error(r.message);
      return 2;
    }
    last = r.message;
    await new Promise((res) => setTimeout(res, Math.min(250, Math.max(0, deadline - Date.now()))));
  }
  console.error(`no reply from node ${o.server} (${node.host}:${node.httpPort}) within ${o.timeout} s: ${last}`);
  return 1;
}
