// Progress of long commands (sim --seeds, bench, jepsen, check), on stderr
// only, so what they print on stdout stays exactly as it was.
//
// - stderr is a terminal: one line redrawn in place (at most every 100 ms,
//   from 300 ms after the start), a bar with done/total, rate and ETA;
//   cleared before the command's final output, and around any line the
//   command prints meanwhile (interrupt()).
// - otherwise (CI, pipes, files): a plain line every 5 s, e.g.
//   "sim: 1200/5000 seeds, 310/s, ETA 12 s"; nothing at all for a command
//   that ends sooner.
//
// Updates are cheap (one clock read unless a line is due), so a synchronous
// loop can call update() per item; a command that waits on I/O passes poll
// and the module asks it once a second.
//
// Environment: PAXOS_PROGRESS=0 turns it off; PAXOS_PROGRESS_INTERVAL_MS sets
// the period of the plain lines (tests use a short one).
//
// Not cli-progress: its non-terminal output comes only from a timer, which a
// synchronous loop (the simulator, the checker's search) never lets run, and
// its clock (Date.now) cannot be injected for tests; this file is smaller than
// its options.

/** What progress is written to: process.stderr, or a stand-in in tests. */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface ProgressOptions {
  /** Default process.stderr. */
  readonly stream?: ProgressStream;
  /** Milliseconds, monotonic; default performance.now. */
  readonly clock?: () => number;
  /** Draw a bar (true) or print plain lines (false); default: the stream is a terminal and TERM is not "dumb". */
  readonly tty?: boolean;
  /** Plain lines: at most one per this many ms; default PAXOS_PROGRESS_INTERVAL_MS or 5000. */
  readonly intervalMs?: number;
  /** Bar: at most one redraw per this many ms; default 100. */
  readonly redrawMs?: number;
  /** Bar: not drawn before this many ms after start (no flicker for a quick command); default 300. */
  readonly delayMs?: number;
  /** How often poll (see start) is asked, in ms; 0: never (tests call update themselves); default 1000. */
  readonly pollMs?: number;
  /** false: print nothing at all; default: PAXOS_PROGRESS is not "0", "off" or "false". */
  readonly enabled?: boolean;
  /** Environment to read the defaults from; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface StartOptions {
  /** What is counted, after done/total: "seeds", "appends", "s". */
  readonly unit?: string;
  /** Show the rate (default true; off for elapsed seconds, whose rate is 1/s). */
  readonly rate?: boolean;
  /** Asked every pollMs for the count, for commands that wait on I/O between updates. */
  readonly poll?: () => { done: number; extra?: string };
}

export interface Progress {
  /** Starts counting (again, for a new phase: the rate and ETA start over). */
  start(total: number, label: string, options?: StartOptions): void;
  /** done of total so far; extra is shown after the ETA (e.g. "2 failed"). */
  update(done: number, extra?: string): void;
  /** Runs write (which prints something else, e.g. on stdout) with the bar out of the way. */
  interrupt<T>(write: () => T): T;
  /** Clears the bar; nothing more is printed until the next start. Idempotent. */
  stop(): void;
}

export const DEFAULT_INTERVAL_MS = 5000;

/** A Progress that prints nothing (for library callers and tests). */
export const NO_PROGRESS: Progress = {
  start() {},
  update() {},
  interrupt: (write) => write(),
  stop() {},
};

const BAR_WIDTH = 20;
const CLEAR_LINE = "\r\x1b[K";

/** "12 s", "3 min 05 s", "1 h 02 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.ceil(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min`;
}

/** "310/s", "2.5/s", "0.04/s", "0/s". */
export function formatRate(perSecond: number): string {
  if (!(perSecond > 0)) return "0/s";
  if (perSecond >= 10) return `${Math.round(perSecond)}/s`;
  if (perSecond >= 0.1) return `${perSecond.toFixed(1)}/s`;
  return `${perSecond.toFixed(2)}/s`;
}

function envFlag(env: NodeJS.ProcessEnv): boolean {
  const v = (env["PAXOS_PROGRESS"] ?? "").trim().toLowerCase();
  return v !== "0" && v !== "off" && v !== "false" && v !== "no";
}

function envInterval(env: NodeJS.ProcessEnv): number {
  const v = Number(env["PAXOS_PROGRESS_INTERVAL_MS"]);
  return Number.isFinite(v) && v >= 0 && env["PAXOS_PROGRESS_INTERVAL_MS"]?.trim() !== "" ? v : DEFAULT_INTERVAL_MS;
}

export function createProgress(o: ProgressOptions = {}): Progress {
  const env = o.env ?? process.env;
  if (!(o.enabled ?? envFlag(env))) return NO_PROGRESS;
  const stream: ProgressStream = o.stream ?? process.stderr;
  const clock = o.clock ?? (() => performance.now());
  const tty = o.tty ?? (stream.isTTY === true && env["TERM"] !== "dumb");
  const intervalMs = o.intervalMs ?? envInterval(env);
  const redrawMs = o.redrawMs ?? 100;
  const delayMs = o.delayMs ?? 300;
  const pollMs = o.pollMs ?? 1000;

  let active = false;
  let label = "";
  let unit = "";
  let showRate = true;
  let total = 0;
  let done = 0;
  let extra: string | undefined;
  let t0 = 0;
  let lastOut = 0; // when the last line was printed or the bar drawn
  let drawn = false; // the bar is on the screen
  let poller: ReturnType<typeof setInterval> | null = null;
  let onExit: (() => void) | null = null;

  const text = (now: number): string => {
    const secs = (now - t0) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const parts = [`${done}/${total}${unit === "" ? "" : ` ${unit}`}`];
    if (showRate) parts.push(formatRate(rate));
    parts.push(`ETA ${done >= total ? "0 s" : rate > 0 ? formatDuration((total - done) / rate) : "?"}`);
    if (extra !== undefined && extra !== "") parts.push(extra);
    return parts.join(", ");
  };

  const bar = (now: number): string => {
    const f = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
    const full = Math.round(f * BAR_WIDTH);
    const pct = `${Math.floor(f * 100)}%`.padStart(4);
    let line = `${label} ${"█".repeat(full)}${"░".repeat(BAR_WIDTH - full)} ${pct} ${text(now)}`;
    // Never wrap: a wrapped line cannot be cleared with \r.
    const cols = stream.columns ?? 0;
    if (cols > 1 && line.length > cols - 1) line = line.slice(0, cols - 1);
    return line;
  };

  const clear = () => {
    if (drawn) stream.write(CLEAR_LINE);
    drawn = false;
  };

  const draw = (now: number) => {
    stream.write(`${CLEAR_LINE}${bar(now)}`);
    drawn = true;
    lastOut = now;
  };

  const maybeOutput = () => {
    if (!active) return;
    const now = clock();
    if (tty) {
      if (drawn ? now - lastOut >= redrawMs : now - t0 >= delayMs) draw(now);
    } else if (now - lastOut >= intervalMs) {
      stream.write(`${label}: ${text(now)}\n`);
      lastOut = now;
    }
  };

  const stopPolling = () => {
    if (poller !== null) clearInterval(poller);
    poller = null;
  };

  const self: Progress = {
    start(n, name, so = {}) {
      stopPolling();
      const now = clock();
      active = true;
      label = name;
      unit = so.unit ?? "";
      showRate = so.rate ?? true;
      total = n;
      done = 0;
      extra = undefined;
      t0 = now;
      if (!tty) lastOut = now; // the first plain line comes one interval after the start
      if (tty && onExit === null) {
        // process.exit() with the bar on the screen (Ctrl-C handlers): leave a clean line.
        onExit = () => clear();
        process.once("exit", onExit);
      }
      const poll = so.poll;
      if (poll !== undefined && pollMs > 0) {
        poller = setInterval(() => {
          const p = poll();
          self.update(p.done, p.extra);
        }, pollMs);
        poller.unref();
      }
      if (tty && (drawn || delayMs <= 0)) draw(now);
    },
    update(d, x) {
      if (!active) return;
      done = d;
      extra = x;
      maybeOutput();
    },
    interrupt(write) {
      if (!drawn) return write();
      clear();
      try {
        return write();
      } finally {
        if (active) draw(clock());
      }
    },
    stop() {
      stopPolling();
      active = false;
      clear();
      if (onExit !== null) process.removeListener("exit", onExit);
      onExit = null;
    },
  };
  return self;
}

/**
 * For work in phases, each with its own total (the checker: fast path, then
 * search): a new phase name starts the count over, under "label (phase)".
 */
export function phased(p: Progress, label: string, unit: string): (phase: string, done: number, total: number, extra?: string) => void {
  let current: string | null = null;
  return (phase, done, total, extra) => {
    if (phase !== current) {
      current = phase;
      p.start(total, `${label} (${phase})`, { unit });
    }
    p.update(done, extra);
  };
}
