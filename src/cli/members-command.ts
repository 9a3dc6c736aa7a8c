// `paxos members list|add|promote|remove --server HOST:PORT`: the cluster's
// membership through any member's HTTP gateway (GET/POST /members,
// POST /members/ID/promote, DELETE /members/ID), which hands changes to the
// leader. A change command exits 0 only once the change is chosen; 1 when
// it is refused or no answer comes in time (the message says which, and
// whether it may still happen); 2 for usage errors.

import type { Command } from "commander";
import { request, type Dispatcher } from "undici";
import { ConfigError, dialHost, normalizeMemberAddress, parseNodeLine, type NodeAddress } from "../config/cluster-config.js";
import { usageExitsTwo } from "./certs-command.js";
import { httpsAgent, UsageError } from "./client-command.js";

interface MembersOptions {
  server: string;
  json: boolean;
  timeout: number;
  cacert?: string;
  cert?: string;
  key?: string;
}

interface MemberJson {
  id: number;
  address: string;
  grpc: string;
  role: "voter" | "learner";
}

interface MembersJson {
  members: MemberJson[];
  config_slot: number;
}

type Reply = { status: number; body: Record<string, unknown> & Partial<MembersJson>; text: string };

class Gateway {
  readonly node: NodeAddress;
  private readonly agent: Dispatcher | null;
  constructor(o: MembersOptions) {
    try {
      this.node = parseNodeLine(o.server, -1, undefined, "--server address");
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(e.message);
      throw e;
    }
    this.agent = httpsAgent(this.node, o);
  }

  get name(): string {
    return `${this.node.host}:${this.node.httpPort}`;
  }

  async call(method: "GET" | "POST" | "DELETE", path: string, deadline: number, body?: unknown): Promise<Reply> {
    const scheme = this.agent === null ? "http" : "https";
    const timeout = Math.max(1, deadline - Date.now());
    const res = await request(`${scheme}://${dialHost(this.node.host)}:${this.node.httpPort}${path}`, {
      method,
      ...(this.agent === null ? {} : { dispatcher: this.agent }),
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
    const text = await res.body.text();
    let parsed: Reply["body"] = {};
    try {
      parsed = JSON.parse(text) as Reply["body"];
    } catch {
      /* not JSON: reported with its text */
    }
    return { status: res.statusCode, body: parsed, text };
  }
}

function table(m: MembersJson): string {
  const rows = [["ID", "ROLE", "ADDRESS", "GRPC"], ...m.members.map((x) => [String(x.id), x.role, x.address, x.grpc])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd());
  return `${lines.join("\n")}\n(configuration of slot ${m.config_slot})`;
}

/** What a failed call says: the server's error (and refusal or outcome), or the HTTP status. */
function problem(r: Reply): string {
  const error = typeof r.body.error === "string" ? r.body.error : r.text.slice(0, 200);
  const extra = typeof r.body.refusal === "string" ? ` [${r.body.refusal}]` : typeof r.body.outcome === "string" ? ` (outcome: ${r.body.outcome})` : "";
  return `HTTP ${r.status}: ${error}${extra}`;
}

/** Runs one change; retries while the leader says a learner is still catching up (promote). */
async function change(
  gw: Gateway,
  method: "POST" | "DELETE",
  path: string,
  body: unknown,
  deadline: number,
  retryRefusals: readonly string[] = [],
): Promise<Reply> {
  for (;;) {
    const r = await gw.call(method, path, deadline, body);
    const refusal = r.body.refusal;
    if (r.status === 409 && typeof refusal === "string" && retryRefusals.includes(refusal) && Date.now() < deadline - 500) {
      await new Promise((res) => setTimeout(res, 500));
      continue;
    }
    return r;
  }
}

function report(r: Reply, o: MembersOptions, what: (m: MemberJson) => string): number {
  if (r.status !== 200) {
    console.error(`paxos members: ${problem(r)}`);
    return 1;
  }
  if (o.json) console.log(JSON.stringify(r.body));
  else {
    const member = r.body.member as MemberJson;
    console.log(`${what(member)}\n${table(r.body as unknown as MembersJson)}`);
  }
  return 0;
}

/** Member id from "ID" or from "HOST:PORT" (looked up in the membership). */
async function resolveMember(gw: Gateway, text: string, deadline: number): Promise<number> {
  if (/^\d+$/.test(text)) return Number(text);
  const address = normalizeMemberAddress(text);
  if (typeof address !== "string") throw new UsageError(`${text} is neither a member id nor a member address: ${address.problem}`);
  const r = await gw.call("GET", "/members", deadline);
  if (r.status !== 200) throw new Error(problem(r));
  const [host, port] = address.split(":");
  const m = (r.body.members ?? []).find((x) => x.address === `${host}:${port}`);
  if (m === undefined) throw new UsageError(`no member has the address ${host}:${port} (see paxos members list --server ${gw.name})`);
  return m.id;
}

async function run(o: MembersOptions, work: (gw: Gateway, deadline: number) => Promise<number>): Promise<void> {
  const gw = new Gateway(o);
  const deadline = Date.now() + o.timeout * 1000;
  try {
    process.exitCode = await work(gw, deadline);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    console.error(`paxos members: cannot talk to ${gw.name}: ${(e as Error).message}`);
    process.exitCode = 1;
  }
}

export function configureMembersCommand(cmd: Command): Command {
  usageExitsTwo(cmd).description(
    "List and change the cluster's members through any member (it hands changes to the leader). One change at a time; each exits 0 once chosen.",
  );
  const common = (sub: Command) =>
    usageExitsTwo(sub)
      .requiredOption("--server <host:port>", "any member's HTTP address")
      .option("--json", "print the server's JSON reply", false)
      .option("--timeout <s>", "seconds to wait for the change to be chosen", (v: string) => {
        if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError("--timeout must be a whole number of seconds, at least 1");
        return Number(v);
      }, 60)
      .option("--cacert <file>", "talk HTTPS, trusting this CA")
      .option("--cert <file>", "client certificate (for nodes started with --client-cert-auth)")
      .option("--key <file>", "the key of --cert");

  common(cmd.command("list").description("Print the members: id, role, HTTP and gRPC address, and the slot of the configuration in force.")).action((o: MembersOptions) =>
    run(o, async (gw, deadline) => {
      const r = await gw.call("GET", "/members", deadline);
      if (r.status !== 200) {
        console.error(`paxos members: ${problem(r)}`);
        return 1;
      }
      console.log(o.json ? JSON.stringify(r.body) : table(r.body as unknown as MembersJson));
      return 0;
    }),
  );

  common(
    cmd
      .command("add")
      .description(
        "Add a node as a learner, then (without --learner) promote it to voter once it has caught up. Start the node first: paxos node --join MEMBER --self ADDRESS --data-dir DIR.",
      )
      .argument("<address>", "the new node's host:port[:grpcPort[:peerPort]] (ports default to port+1000 and port+2000)")
      .option("--learner", "add it as a learner only (promote it later with paxos members promote)", false),
  ).action((address: string, o: MembersOptions & { learner: boolean }) =>
    run(o, async (gw, deadline) => {
      const added = await change(gw, "POST", "/members", { address }, deadline);
      if (added.status !== 200 || o.learner) return report(added, o, (m) => `added ${m.address} as learner ${m.id}`);
      const id = (added.body.member as MemberJson).id;
      if (!o.json) console.log(`added ${address} as learner ${id}; promoting it once it has caught up`);
      const promoted = await change(gw, "POST", `/members/${id}/promote`, undefined, deadline, ["learner_behind", "change_pending"]);
      return report(promoted, o, (m) => `promoted member ${m.id} (${m.address}) to voter`);
    }),
  );

  common(cmd.command("promote").description("Make a learner that has caught up a voter.").argument("<id>", "the learner's id")).action((id: string, o: MembersOptions) =>
    run(o, async (gw, deadline) => {
      if (!/^\d+$/.test(id)) throw new UsageError(`member id must be a non-negative integer, got "${id}"`);
      return report(await change(gw, "POST", `/members/${id}/promote`, undefined, deadline), o, (m) => `promoted member ${m.id} (${m.address}) to voter`);
    }),
  );

  common(
    cmd
      .command("remove")
      .description("Remove a member (the leader too: it steps down once the change is chosen). Its id is never given to another node.")
      .argument("<member>", "the member's id, or its host:port"),
  ).action((member: string, o: MembersOptions) =>
    run(o, async (gw, deadline) => {
      const id = await resolveMember(gw, member, deadline);
      return report(await change(gw, "DELETE", `/members/${id}`, undefined, deadline), o, (m) => `removed member ${m.id} (${m.address})`);
    }),
  );
  return cmd;
}
