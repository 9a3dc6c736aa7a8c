// Reconfiguration on real processes (issue 13): two nodes join a 3-node
// cluster under load through `paxos node --join` and `paxos members add`;
// two of the original three are killed with SIGKILL (their exit seen by the
// OS) and the cluster keeps serving; they are removed with `paxos members
// remove` and it keeps serving; then every process is killed and restarted,
// and the membership and the list are intact. The removed nodes, restarted
// from logs that predate their removal, learn of it from the members and
// answer 503 not_applied with the members.

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCa, createNodeCert } from "../../src/tls/certs.js";
import { PAXOS_BIN, ProcessCluster, ROOT, httpJson, sleep } from "../support/process-cluster.js";

let cluster: ProcessCluster;

beforeAll(async () => {
  cluster = await ProcessCluster.start(3);
});

afterAll(async () => {
  await cluster?.destroy();
});

function paxos(args: readonly string[], timeoutMs = 90_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PAXOS_BIN, ...args], { cwd: ROOT, timeout: timeoutMs, killSignal: "SIGKILL" }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : null;
      resolve({ code, stdout, stderr });
    });
  });
}

const server = (i: number) => `localhost:${cluster.httpPorts[i]}`;

interface MembersJson {
  members: { id: number; address: string; grpc: string; role: string }[];
  config_slot: number;
}

async function members(i: number): Promise<MembersJson> {
  const r = await httpJson(cluster.url(i, "/members"), { timeoutMs: 3000 });
  expect(r.status, r.text).toBe(200);
  return r.body as MembersJson;
}

/**
 * Clients appending without pause through the given nodes; every append
 * acknowledged (200) is recorded, to be found in the list at the end.
 */
class Load {
  readonly acked = new Set<number>();
  readonly reads: number[][] = [];
  failures = 0;
  private stopped = false;
  private readonly loops: Promise<void>[] = [];
  private next = 1;
  constructor(private targets: number[]) {
    for (let c = 0; c < 4; c++) this.loops.push(this.loop(50_000 + c));
  }
  retarget(targets: number[]): void {
    this.targets = targets;
  }
  private async loop(clientId: number): Promise<void> {
    let commandId = 1;
    while (!this.stopped) {
      const payload = this.next++;
      const target = this.targets[payload % this.targets.length]!;
      try {
        if (payload % 5 === 0) {
          // A read through any member (read index, forwarded by followers): recorded, to be a prefix of the final list.
          const r = await httpJson(cluster.url(target, "/state"), { timeoutMs: 12_000 });
          if (r.status === 200) this.reads.push((r.body as { state: number[] }).state);
          continue;
        }
        const r = await cluster.append(target, clientId, commandId++, payload, 12_000);
        if (r.status === 200) this.acked.add(payload);
        else this.failures++;
      } catch {
        this.failures++;
      }
      await sleep(5);
    }
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

describe("changing the members of a live cluster of real processes", () => {
  it("refuses bad changes with a clear error and changes nothing", async () => {
    const before = await members(0);
    expect(before).toEqual({
      members: [0, 1, 2].map((i) => ({ id: i, address: server(i), grpc: `localhost:${cluster.grpcPorts[i]}`, role: "voter" })),
      config_slot: -1,
    });
    const post = (path: string, body?: string, method = "POST") =>
      httpJson(cluster.url(1, path), { method, ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } }) });
    const cases: [Promise<Awaited<ReturnType<typeof post>>>, number, RegExp][] = [
      [post("/members", JSON.stringify({ address: server(2) })), 400, /already member 2/],
      [post("/members", JSON.stringify({ address: `localhost:${cluster.grpcPorts[0]}` })), 400, /already member 0/], // its gRPC port
      [post("/members", '{"address":"a b:1"}'), 400, /bad member address/],
      [post("/members", '{"address":"localhost:70000"}'), 400, /out of range/],
      [post("/members", '{"address":5}'), 400, /address must be a string/],
      [post("/members", '{"address":"x:1","address":"y:1"}'), 400, /duplicate field: address/],
      [post("/members", '{"address":"x:1","role":"voter"}'), 400, /unknown field "role"/],
      [post("/members", ""), 400, /empty body/],
      [post("/members/42", undefined, "DELETE"), 404, /no member 42/],
      [post("/members/x1", undefined, "DELETE"), 400, /member id must be a non-negative integer/],
      [post("/members/0/promote"), 400, /already a voter/],
      [post("/members", undefined, "PUT"), 405, /not allowed on \/members; allowed: GET, HEAD, POST/],
      [post("/members/1", undefined, "POST"), 405, /allowed: DELETE/],
    ];
    for (const [reply, status, error] of cases) {
      const r = await reply;
      expect(r.status, r.text).toBe(status);
      expect((r.body as { error: string }).error).toMatch(error);
    }
    // The CLI says the same, with exit 1 for a refusal and 2 for usage errors.
    const taken = await paxos(["members", "add", server(0), "--server", server(2)]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/HTTP 400: .*already member 0.* \[address_taken\]/);
    const usage = await paxos(["members", "remove", "no-such-host:1", "--server", server(2)]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/no member has the address no-such-host:1/);
    const listed = await paxos(["members", "list", "--json", "--server", server(0)]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual(before);
    for (const i of [0, 1, 2]) expect(await members(i)).toEqual(before);
  }, 60_000);

  it("adds two nodes under load, survives losing two originals, removes them, and restarts intact", async () => {
    const load = new Load([0, 1, 2]);
    try {
      // Two new nodes start with --join: until added they serve only /status.
      const a = await cluster.addJoiner(0);
      const b = await cluster.addJoiner(1);
      await cluster.waitUntil(async () => (await cluster.status(a).catch(() => null))?.member === "joining", 15_000, "node a to wait as joining");
      const refused = await cluster.append(a, 1, 1, 1);
      expect(refused.status).toBe(503);
      expect((refused.body as { outcome: string }).outcome).toBe("not_applied");

      for (const [i, via] of [[a, 0], [b, 2]] as const) {
        const r = await paxos(["members", "add", cluster.memberAddress(i), "--server", server(via)]);
        expect(r.code, r.stderr + r.stdout).toBe(0);
        expect(r.stdout).toMatch(/promoted member \d+ .* to voter/);
      }
      const five = await members(2);
      expect(five.members.map((m) => m.role)).toEqual(["voter", "voter", "voter", "voter", "voter"]);
      expect(five.members.map((m) => m.id)).toEqual([0, 1, 2, 3, 4]);
      expect(five.members[3]).toEqual({ id: 3, address: server(a), grpc: `localhost:${cluster.grpcPorts[a]}`, role: "voter" });
      // The joined nodes serve clients now, and list what every member lists.
      load.retarget([0, 1, 2, a, b]);
      await cluster.waitUntil(async () => (await cluster.status(a)).member === "voter", 10_000, "node a to know it is a voter");
      expect(await members(a)).toEqual(five);

      // SIGKILL two of the original three; the OS says they are gone.
      const exits: (number | null)[] = [];
      for (const i of [0, 1]) {
        cluster.onExit(i, (code) => exits.push(code));
        await cluster.kill(i);
        expect(cluster.isRunning(i)).toBe(false);
        await expect(httpJson(cluster.url(i, "/status"), { timeoutMs: 1000 })).rejects.toThrow(/ECONNREFUSED/);
      }
      expect(exits).toEqual([null, null]); // killed by a signal, no exit code
      load.retarget([2, a, b]);
      const servedBefore = load.acked.size;
      await cluster.waitUntil(async () => load.acked.size >= servedBefore + 20, 20_000, "appends after losing two of five");

      // Remove the dead ones through a live member.
      for (const id of [0, 1]) {
        const r = await paxos(["members", "remove", String(id), "--server", server(b)]);
        expect(r.code, r.stderr + r.stdout).toBe(0);
        expect(r.stdout).toContain(`removed member ${id}`);
      }
      const three = await members(a);
      expect(three.members.map((m) => m.id)).toEqual([2, 3, 4]);
      expect(three.config_slot).toBeGreaterThan(five.config_slot);
      const servedAfterRemoval = load.acked.size;
      await cluster.waitUntil(async () => load.acked.size >= servedAfterRemoval + 20, 20_000, "appends after the removals");
    } finally {
      await load.stop();
    }

    // Restart everything from disk, the removed nodes too.
    const list = await cluster.state(2);
    for (const p of load.acked) expect(list).toContain(p);
    // Every read, through whichever member, was a prefix of the one list.
    expect(load.reads.length).toBeGreaterThan(10);
    for (const read of load.reads) expect(read).toEqual(list.slice(0, read.length));
    const all = [0, 1, 2, 3, 4];
    for (const i of all) await cluster.kill(i);
    for (const i of all) cluster.startNode(i);
    await cluster.waitUntil(
      async () => {
        const sts = await Promise.all([2, 3, 4].map((i) => cluster.status(i).catch(() => null)));
        return sts.every((s) => s !== null && s.leader !== null && s.leader >= 2);
      },
      20_000,
      "a leader among the remaining members after the restart",
    );
    const after = await members(3);
    expect(after.members.map((m) => [m.id, m.role])).toEqual([[2, "voter"], [3, "voter"], [4, "voter"]]);
    expect((await cluster.state(4)).slice(0, list.length)).toEqual(list);
    // The removed nodes learn of their removal from the members and refuse clients, naming the members.
    for (const i of [0, 1]) {
      await cluster.waitUntil(async () => (await cluster.status(i).catch(() => null))?.member === "removed", 20_000, `node ${i} to learn it was removed`);
      const r = await cluster.append(i, 9, 1, 9);
      expect(r.status).toBe(503);
      const body = r.body as { outcome: string; members: { id: number }[] };
      expect(body.outcome).toBe("not_applied");
      expect(body.members.map((m) => m.id)).toEqual([2, 3, 4]);
    }
    expect(cluster.logs.get(0)!.some((l) => l.includes("this node was removed from the cluster"))).toBe(true);
    if (process.env.PAXOS_IT_LOGS) console.log(cluster.tailLogs(60));
    // And they did not disturb the members: the same list, still served.
    const r = await cluster.append(3, 77, 1, 77);
    expect(r.status, r.text).toBe(200);

    // With node 4 down, removing another voter would leave fewer than a majority that answers: refused.
    await cluster.kill(4);
    let leader = -1;
    await cluster.waitUntil(
      async () => {
        const [s2, s3] = await Promise.all([cluster.status(2), cluster.status(3)]);
        leader = s2.leader ?? -1;
        return (leader === 2 || leader === 3) && s3.leader === leader;
      },
      15_000,
      "a leader among nodes 2 and 3",
    );
    const other = [2, 3].find((i) => i !== leader)!;
    await sleep(1000); // longer than an election timeout: the leader no longer counts node 4 as alive
    const lose = await paxos(["members", "remove", String(leader), "--server", server(other), "--timeout", "10"]);
    expect(lose.code, lose.stdout).toBe(1);
    expect(lose.stderr).toMatch(/\[would_lose_quorum\]/);
    expect((await members(other)).members.map((m) => m.id)).toEqual([2, 3, 4]);

    // Removing the live leader: it steps down once the change is chosen, and the other two elect a new one.
    cluster.startNode(4);
    await cluster.waitUntil(async () => (await cluster.status(4).catch(() => null))?.leader === leader, 15_000, "node 4 back, following the leader");
    const out = await paxos(["members", "remove", String(leader), "--server", server(other)]);
    expect(out.code, out.stderr).toBe(0);
    const rest = [2, 3, 4].filter((i) => i !== leader);
    await cluster.waitUntil(
      async () => {
        const sts = await Promise.all(rest.map((i) => cluster.status(i)));
        return sts.every((x) => x.leader !== null && x.leader !== leader && x.leader === sts[0]!.leader && rest.includes(x.leader));
      },
      15_000,
      "a new leader among the two members left",
    );
    expect((await cluster.status(leader)).member).toBe("removed");
    const after2 = await cluster.append(rest[0]!, 78, 1, 78);
    expect(after2.status, after2.text).toBe(200);
  }, 240_000);
});

describe("joining a cluster whose peers use mutual TLS", () => {
  let tlsCluster: ProcessCluster;
  let dir: string;
  const flags = (certs: string) => ["--peer-cert-file", join(certs, "node.crt"), "--peer-key-file", join(certs, "node.key"), "--peer-trusted-ca-file", join(certs, "ca.crt")];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "paxos-join-tls-"));
    for (const ca of ["good", "other"]) {
      await createCa(join(dir, ca));
      await createNodeCert(join(dir, ca), ["localhost"]);
    }
    tlsCluster = await ProcessCluster.start(3, flags(join(dir, "good")));
  });

  afterAll(async () => {
    await tlsCluster?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lets in a node with a certificate of the cluster's CA, and not one of another CA", async () => {
    const c = tlsCluster;
    const stranger = await c.addJoiner(0); // started with the cluster's flags first, replaced below
    await c.kill(stranger);
    c.setExtraArgs(stranger, flags(join(dir, "other")));
    c.startNode(stranger);
    const joining = async (i: number) => (await c.status(i).catch(() => null))?.member === "joining";
    await c.waitUntil(() => joining(stranger), 15_000, "the stranger to wait as joining");
    const good = await c.addJoiner(1);
    await c.waitUntil(() => joining(good), 15_000, "the good node to wait as joining");
    const add = await paxos(["members", "add", c.memberAddress(good), "--server", `localhost:${c.httpPorts[2]}`]);
    expect(add.code, add.stderr).toBe(0);
    await c.waitUntil(async () => (await c.status(good).catch(() => null))?.member === "voter", 15_000, "the joined node to run as a voter");
    const r = await c.append(good, 5, 1, 5);
    expect(r.status, r.text).toBe(200);
    // The stranger never got the cluster's answer: it still waits, and says why in its log.
    expect(c.isRunning(stranger), c.tailLogs(30)).toBe(true);
    expect((await c.status(stranger)).member).toBe("joining");
    expect(c.logs.get(stranger)!.some((l) => l.includes("cannot ask the member about the cluster yet"))).toBe(true);
    expect((await c.state(0)).slice(-1)).toEqual([5]);
  }, 90_000);
});
