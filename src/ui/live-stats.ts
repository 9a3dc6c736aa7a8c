// What one node tells the live page about itself beyond its protocol state:
// the `stats` field of GET /status. The runtime (cluster-node.ts) feeds it
// from places it passes anyway (a batch from a peer, a peer link event, a
// role change, a request answered); everything else is computed when
// /status is asked for, so the hot path pays a Map.set or two counters.

import { stat } from "node:fs/promises";
import { join } from "node:path";
import { SNAPSHOT_FILE_NAME } from "../storage/snapshot-file.js";
import { LIST_FILE_NAME } from "../storage/list-file.js";
import { OpWindow, type OpsJson } from "./op-window.js";

/**
 * This node's outgoing link to a peer, as its last link event said:
 * "idle" before any (nothing sent yet: followers rarely talk to each other),
 * "up" once a stream lived a second, "unreachable" or "refused" (TLS,
 * cluster id) after a failure, until it is up again.
 */
export type LinkState = "idle" | "up" | "unreachable" | "refused";

export interface LinkJson {
  readonly id: number;
  readonly link: LinkState;
  /** The failure that made the link unreachable or refused. */
  readonly error: string | null;
  /** Milliseconds since a message batch from this peer arrived; null: none since this node started. */
  readonly last_heard_ms: number | null;
}

export interface StatsJson {
  readonly uptime_s: number;
  /**
   * Bytes of the durable log's records (its file is up to 1 MiB larger: zeros written ahead, so
   * an append allocates nothing), and of the latest snapshot, list.bin included (null: none yet).
   */
  readonly log_bytes: number | null;
  readonly snapshot_bytes: number | null;
  /** Campaigns this node started (it became a candidate, or leader at once). */
  readonly elections: number;
  /** Times the leader this node believes in changed (to another node or to none). */
  readonly leader_changes: number;
  readonly ops: OpsJson;
  readonly links: readonly LinkJson[];
}

/** File sizes are looked up at most this often (/status is polled by harnesses too). */
const FILE_SIZES_TTL_MS = 500;

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

export class LiveStats {
  readonly ops = new OpWindow(5);
  private readonly startedAt = Date.now();
  private readonly heardAt = new Map<number, number>();
  private readonly links = new Map<number, { state: LinkState; error: string | null }>();
  private elections = 0;
  private leaderChanges = 0;
  private files: { at: number; snapshot: number | null } | null = null;

  constructor(
    private readonly dataDir: string,
    /** The durable log's record bytes, null before it is open. */
    private readonly logRecordBytes: () => number | null,
  ) {}

  /** A batch of messages arrived from `peer`. */
  heard(peer: number): void {
    this.heardAt.set(peer, Date.now());
  }

  /** A peer link reported an event (peer-link.ts reports each kind of failure once, and "up" again). */
  linkEvent(peer: number, state: Exclude<LinkState, "idle">, error: string | null): void {
    this.links.set(peer, { state, error });
  }

  /** The runtime noticed a new role or leader. */
  roleChanged(role: string, previousRole: string, leaderChanged: boolean): void {
    if (role !== previousRole && (role === "candidate" || (role === "leader" && previousRole === "follower"))) this.elections++;
    // The first notice at start (previousRole "") is no change.
    if (leaderChanged && previousRole !== "") this.leaderChanges++;
  }

  private async fileSizes(): Promise<{ snapshot: number | null }> {
    const now = Date.now();
    if (this.files === null || now - this.files.at > FILE_SIZES_TTL_MS) {
      const [snapshot, list] = await Promise.all([SNAPSHOT_FILE_NAME, LIST_FILE_NAME].map((name) => sizeOf(join(this.dataDir, name))));
      this.files = { at: now, snapshot: snapshot == null ? null : snapshot + (list ?? 0) };
    }
    return this.files;
  }

  /** The `stats` field of GET /status; `peers`: the other members' ids. */
  async json(peers: readonly number[]): Promise<StatsJson> {
    const files = await this.fileSizes();
    const now = Date.now();
    return {
      uptime_s: Math.round((now - this.startedAt) / 100) / 10,
      log_bytes: this.logRecordBytes(),
      snapshot_bytes: files.snapshot,
      elections: this.elections,
      leader_changes: this.leaderChanges,
      ops: this.ops.snapshot(),
      links: peers.map((id) => {
        const l = this.links.get(id);
        const heard = this.heardAt.get(id);
        return { id, link: l?.state ?? "idle", error: l?.error ?? null, last_heard_ms: heard === undefined ? null : now - heard };
      }),
    };
  }
}
