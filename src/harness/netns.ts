// The harness's private test network: one Linux network namespace per node,
// each with a veth link into a bridge in the root namespace, addresses in a
// private subnet that only exists on this machine. Partitions are iptables
// DROP rules inside the namespaces, as Jepsen does on real hosts. Every
// name carries one prefix, so leftovers of a crashed run are easy to find
// and remove.

import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export const NAME_PREFIX = "pxj";
export const SUBNET_PREFIX = "10.213.77";
export const BRIDGE = `${NAME_PREFIX}-br`;

export class HarnessError extends Error {}

export interface TestNet {
  /** The root namespace's address on the bridge: where clients and the harness talk from. */
  readonly controlIp: string;
  readonly nodeIps: readonly string[];
  readonly namespaces: readonly string[];
}

function sh(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function quiet(cmd: string, args: readonly string[]): void {
  try {
    sh(cmd, args);
  } catch {
    /* already gone */
  }
}

function have(cmd: string): boolean {
  try {
    sh(cmd, ["--version"]);
    return true;
  } catch {
    try {
      sh("which", [cmd]);
      return true;
    } catch {
      return false;
    }
  }
}

/** Refuses clearly when the harness cannot work here. */
export function checkPrerequisites(): void {
  if (process.platform !== "linux") throw new HarnessError("the local Jepsen harness needs Linux (network namespaces)");
  if (process.getuid?.() !== 0) throw new HarnessError("the local Jepsen harness needs root (it creates network namespaces and iptables rules); run it with sudo");
  if (!have("ip")) throw new HarnessError("`ip` (iproute2) is missing: apt-get install iproute2");
  if (!have("iptables")) throw new HarnessError("`iptables` is missing: apt-get install iptables");
  const taken = sh("ip", ["-o", "-4", "addr", "show"])
    .split("\n")
    .filter((l) => l.includes(` ${SUBNET_PREFIX}.`) && !l.includes(BRIDGE));
  if (taken.length > 0) throw new HarnessError(`the harness subnet ${SUBNET_PREFIX}.0/24 is already used on this machine: ${taken[0]!.trim()}`);
}

/** Removes every namespace, link and bridge an earlier (crashed) run may have left. */
export function removeLeftovers(): string[] {
  const removed: string[] = [];
  for (const line of sh("ip", ["netns", "list"]).split("\n")) {
    const name = line.split(" ")[0] ?? "";
    if (name.startsWith(`${NAME_PREFIX}-`)) {
      quiet("ip", ["netns", "delete", name]);
      removed.push(name);
    }
  }
  for (const line of sh("ip", ["-o", "link", "show"]).split("\n")) {
    const name = (line.split(": ")[1] ?? "").split("@")[0] ?? "";
    if (name.startsWith(`${NAME_PREFIX}-`)) {
      quiet("ip", ["link", "delete", name]);
      removed.push(name);
    }
  }
  return removed;
}

export function createTestNet(nodes: number): TestNet {
  const namespaces: string[] = [];
  const nodeIps: string[] = [];
  try {
    sh("ip", ["link", "add", BRIDGE, "type", "bridge"]);
    sh("ip", ["addr", "add", `${SUBNET_PREFIX}.1/24`, "dev", BRIDGE]);
    sh("ip", ["link", "set", BRIDGE, "up"]);
    for (let i = 0; i < nodes; i++) {
      const ns = `${NAME_PREFIX}-n${i}`;
      const ip = `${SUBNET_PREFIX}.${11 + i}`;
      const host = `${NAME_PREFIX}-v${i}`;
      const inner = `${NAME_PREFIX}-v${i}p`;
      sh("ip", ["netns", "add", ns]);
      namespaces.push(ns);
      sh("ip", ["link", "add", host, "type", "veth", "peer", "name", inner]);
      sh("ip", ["link", "set", inner, "netns", ns]);
      sh("ip", ["link", "set", host, "master", BRIDGE]);
      sh("ip", ["link", "set", host, "up"]);
      sh("ip", ["netns", "exec", ns, "ip", "addr", "add", `${ip}/24`, "dev", inner]);
      sh("ip", ["netns", "exec", ns, "ip", "link", "set", inner, "up"]);
      sh("ip", ["netns", "exec", ns, "ip", "link", "set", "lo", "up"]);
      nodeIps.push(ip);
    }
  } catch (e) {
    removeLeftovers();
    throw new HarnessError(`cannot build the test network: ${(e as Error).message}`);
  }
  return { controlIp: `${SUBNET_PREFIX}.1`, nodeIps, namespaces };
}

export function destroyTestNet(): void {
  removeLeftovers();
}

/**
 * Cuts the network into groups: a node drops every packet from nodes outside
 * its own group (and from nobody else: the control address stays reachable,
 * as Jepsen's control node does).
 */
export async function partition(net: TestNet, groups: readonly (readonly number[])[]): Promise<void> {
  const groupOf = new Map<number, number>();
  groups.forEach((g, gi) => g.forEach((n) => groupOf.set(n, gi)));
  await Promise.all(
    net.namespaces.map(async (ns, i) => {
      for (let j = 0; j < net.nodeIps.length; j++) {
        if (j === i || groupOf.get(j) === groupOf.get(i)) continue;
        await run("ip", ["netns", "exec", ns, "iptables", "-A", "INPUT", "-s", net.nodeIps[j]!, "-j", "DROP"]);
      }
    }),
  );
}

/** Removes every DROP rule: the network is whole again. */
export async function heal(net: TestNet): Promise<void> {
  await Promise.all(net.namespaces.map((ns) => run("ip", ["netns", "exec", ns, "iptables", "-F", "INPUT"])));
}
