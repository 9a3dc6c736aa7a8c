import { formatBallot } from "../core/ballot.js";
import type { Message, Value } from "../core/types.js";

/**
 * The run's story: every line is hashed (so two runs of one seed can be
 * compared bit for bit) and the last `keep` lines are kept to explain a
 * failure; `echo` prints every line as it happens.
 */
export class Trace {
  private readonly lines: string[] = [];
  private hash = 0x811c9dc5;
  count = 0;

  constructor(
    private readonly keep: number,
    private readonly echo: ((line: string) => void) | null = null,
  ) {}

  add(time: number, line: string): void {
    const text = `${(time / 1000).toFixed(3).padStart(8)}s ${line}`;
    for (let i = 0; i < text.length; i++) {
      this.hash ^= text.charCodeAt(i);
      this.hash = Math.imul(this.hash, 0x01000193) >>> 0;
    }
    this.count++;
    if (this.echo) this.echo(text);
    this.lines.push(text);
    if (this.lines.length > this.keep) this.lines.splice(0, this.lines.length - this.keep);
  }

  get digest(): string {
    return `${this.hash.toString(16).padStart(8, "0")}:${this.count}`;
  }

  tail(): string[] {
    return [...this.lines];
  }
}

export function describeValue(v: Value): string {
  switch (v.kind) {
    case "noop":
      return "noop";
    case "command":
      return `${v.command.payload}(c${v.command.clientId}#${v.command.commandId})`;
    case "membership": {
      const c = v.change;
      const what = c.kind === "add" ? `add ${c.address}` : `${c.kind} ${c.id}`;
      return `membership(${what})`;
    }
  }
}

function range(from: number, n: number): string {
  return n === 1 ? `[${from}]` : `[${from}..${from + n - 1}]`;
}

export function describeMessage(m: Message): string {
  switch (m.type) {
    case "prepare":
      return `prepare b=${formatBallot(m.ballot)} from=${m.fromSlot}`;
    case "promise":
      return `promise b=${formatBallot(m.ballot)} votes=${m.votes.length} commit=${m.commitIndex}`;
    case "accept":
      return (
        `accept b=${formatBallot(m.ballot)} ${range(m.fromSlot, m.values.length)}=${m.values.map(describeValue).join(",")} commit=${m.commitIndex}` +
        (m.quiet === undefined ? "" : ` quiet=${m.quiet.map((id) => `n${id}`).join(",")}`)
      );
    case "accepted":
      return `accepted b=${formatBallot(m.ballot)} ${range(m.fromSlot, m.count)}`;
    case "nack":
      return `nack b=${formatBallot(m.ballot)} promised=${formatBallot(m.promised)}`;
    case "heartbeat":
      return `heartbeat b=${formatBallot(m.ballot)} commit=${m.commitIndex} seq=${m.seq}`;
    case "heartbeatAck":
      return `heartbeatAck b=${formatBallot(m.ballot)} seq=${m.seq}`;
    case "catchupRequest":
      return `catchupRequest from=${m.fromSlot}`;
    case "catchupReply":
      return `catchupReply ${range(m.fromSlot, m.values.length)} commit=${m.commitIndex}`;
    case "installSnapshot":
      return `installSnapshot upTo=${m.snapshot.upTo} items=${m.snapshot.state.items.length}`;
    case "preVote":
      return `preVote b=${formatBallot(m.ballot)} commit=${m.commitIndex}`;
    case "preVoteReply":
      return `preVoteReply b=${formatBallot(m.ballot)} ${m.granted ? "granted" : "refused"} promised=${formatBallot(m.promised)}`;
    case "propose":
      return `propose #${m.seq} ${m.commands.map((c) => describeValue({ kind: "command", command: c })).join(",")}`;
    case "proposeRefused":
      return `proposeRefused #${m.seq} ${m.reason} ${m.commands.map((c) => describeValue({ kind: "command", command: c })).join(",")}`;
    case "commit":
      return `commit b=${formatBallot(m.ballot)} commit=${m.commitIndex}`;
  }
}
