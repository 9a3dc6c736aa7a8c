// Logs a recurring problem once, not once per retry: a peer with the wrong
// certificate retries every few hundred milliseconds, and a log line per
// attempt would bury everything else. A key is logged again only after it
// was quiet for `quietMs` (the problem went away and came back). The table
// is bounded, since keys include addresses a hostile client chooses.

import type { Logger } from "pino";

const MAX_KEYS = 1024;

export class OnceLog {
  /** key -> when it was last seen (ms). Map order is insertion order: the oldest first. */
  private readonly lastSeen = new Map<string, number>();

  constructor(
    private readonly logger: Logger,
    private readonly quietMs = 10 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Logs at warn level unless `key` was seen within the quiet period; returns whether it logged. */
  warn(key: string, fields: Record<string, unknown>, msg: string): boolean {
    const t = this.now();
    const last = this.lastSeen.get(key);
    this.lastSeen.delete(key); // re-insert: most recently seen last
    this.lastSeen.set(key, t);
    if (this.lastSeen.size > MAX_KEYS) this.lastSeen.delete(this.lastSeen.keys().next().value!);
    if (last !== undefined && t - last < this.quietMs) return false;
    this.logger.warn(fields, msg);
    return true;
  }

  /** Forgets `key`, so that its next occurrence is logged (e.g. the link came back). */
  clear(key: string): void {
    this.lastSeen.delete(key);
  }

  /** Forgets every key that starts with `prefix`. */
  clearPrefix(prefix: string): void {
    for (const k of [...this.lastSeen.keys()]) if (k.startsWith(prefix)) this.lastSeen.delete(k);
  }
}
