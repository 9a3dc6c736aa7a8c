import type { Command } from "./types.js";

interface Session {
  readonly commandId: number;
  readonly payload: number;
  /** Where the payload landed in the list. */
  readonly index: number;
}

/**
 * The replicated state machine: an append-only list of integers plus the
 * exactly-once session table. Every node applies the same chosen commands in
 * slot order, so every node holds the same list and the same table; the table
 * goes through consensus with the list, so deduplication survives failover.
 *
 * A retry repeats the whole triple (client_id, command_id, payload). The old
 * client reuses (pid, 1) for different payloads, so only an identical triple
 * counts as a duplicate; a client's latest command is remembered (clients
 * send one command at a time, so a retry is always of the latest one).
 */
export class ReplicatedList {
  private readonly items: number[] = [];
  private readonly sessions = new Map<number, Session>();

  constructor(private readonly maxSessions: number) {}

  get length(): number {
    return this.items.length;
  }

  /** The list's first n items (a copy). */
  prefix(n: number): number[] {
    return this.items.slice(0, n);
  }

  /** Read-only view of the whole list. */
  get values(): readonly number[] {
    return this.items;
  }

  /** The index at which this exact command was applied, if it was. */
  lookup(cmd: Command): number | undefined {
    const s = this.sessions.get(cmd.clientId);
    if (s !== undefined && s.commandId === cmd.commandId && s.payload === cmd.payload) return s.index;
    return undefined;
  }

  /** Applies a chosen command; a duplicate leaves the list unchanged. */
  apply(cmd: Command): { index: number; duplicate: boolean } {
    const previous = this.lookup(cmd);
    if (previous !== undefined) return { index: previous, duplicate: true };
    const index = this.items.length;
    this.items.push(cmd.payload);
    // Delete first so that Map order is least recently used first.
    this.sessions.delete(cmd.clientId);
    this.sessions.set(cmd.clientId, { commandId: cmd.commandId, payload: cmd.payload, index });
    if (this.sessions.size > this.maxSessions) {
      const oldest = this.sessions.keys().next();
      if (!oldest.done) this.sessions.delete(oldest.value);
    }
    return { index, duplicate: false };
  }
}
