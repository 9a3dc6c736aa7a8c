// What a node started with `paxos node --join` learned when it was added:
// DATA/member.json. It stands in for the config file, which such a node
// never had: the cluster's id, the bootstrap membership every node applies
// the log's changes to, this node's id and address, and the membership that
// added it (the core's `known` until its log catches up). Written durably
// before the node first starts, read on every restart.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkMembership, findMember, type Member, type Membership } from "../core/membership.js";
import { replaceFileDurably } from "./record-file.js";

export const MEMBER_FILE_NAME = "member.json";

export interface MemberFile {
  readonly clusterId: string;
  readonly id: number;
  /** host:httpPort:grpcPort:peerPort */
  readonly address: string;
  readonly genesis: Membership;
  /** The membership that added this node. */
  readonly joined: Membership;
}

export class MemberFileError extends Error {}

function membershipFromJson(v: unknown, what: string): Membership {
  const o = v as { members?: unknown; slot?: unknown; nextId?: unknown };
  if (typeof o !== "object" || o === null || !Array.isArray(o.members) || typeof o.slot !== "number" || typeof o.nextId !== "number") {
    throw new MemberFileError(`${what} is not a membership`);
  }
  const members = o.members.map((x: unknown): Member => {
    const m = x as Partial<Member>;
    if (typeof m.id !== "number" || (m.role !== "voter" && m.role !== "learner") || typeof m.address !== "string") throw new MemberFileError(`${what} has a malformed member`);
    return { id: m.id, role: m.role, address: m.address };
  });
  const membership: Membership = { members, slot: o.slot, nextId: o.nextId };
  try {
    checkMembership(membership);
  } catch (e) {
    throw new MemberFileError(`${what}: ${(e as Error).message}`);
  }
  return membership;
}

/** The member file of a data directory, or null when it has none (a node of the bootstrap config, or not yet added). */
export function readMemberFile(dataDir: string): MemberFile | null {
  const path = join(dataDir, MEMBER_FILE_NAME);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  let v: Partial<Record<keyof MemberFile, unknown>>;
  try {
    v = JSON.parse(text) as typeof v;
  } catch (e) {
    throw new MemberFileError(`${path} is not JSON: ${(e as Error).message}`);
  }
  if (typeof v.clusterId !== "string" || typeof v.id !== "number" || typeof v.address !== "string") throw new MemberFileError(`${path} lacks clusterId, id or address`);
  const f: MemberFile = {
    clusterId: v.clusterId,
    id: v.id,
    address: v.address,
    genesis: membershipFromJson(v.genesis, `${path}: genesis`),
    joined: membershipFromJson(v.joined, `${path}: joined`),
  };
  if (findMember(f.joined, f.id)?.address !== f.address) throw new MemberFileError(`${path}: member ${f.id} of the joined membership is not ${f.address}`);
  return f;
}

/** Writes the member file durably (temp file, fsync, rename, directory fsync). */
export async function writeMemberFile(dataDir: string, f: MemberFile): Promise<void> {
  const path = join(dataDir, MEMBER_FILE_NAME);
  await replaceFileDurably(path, Buffer.from(`${JSON.stringify(f, null, 2)}\n`));
}
