// Throughput and latency of the requests one node served, over its last few
// seconds, for the live page (GET /ui). One bucket per second holds counts
// and a log-scale latency histogram, so recording a request is O(1) (a
// log2, two increments) and a snapshot is O(window x bins), independent of
// how many requests there were. Histograms travel sparse ([bin, count]
// pairs), so GET /cluster can merge every member's into cluster-wide
// percentiles instead of averaging percentiles (which means nothing).

/** Bin i holds latencies in [MIN_MS * 2^(i/4), MIN_MS * 2^((i+1)/4)): about 19% wide, so a percentile is within ~9%. */
export const BINS_PER_DOUBLING = 4;
const MIN_MS = 0.01;
/** 0.01 ms .. 0.01 * 2^24 ms (about 168 s); slower requests land in the last bin. */
export const BIN_COUNT = 96;

export function binOf(ms: number): number {
  if (!(ms > MIN_MS)) return 0; // also NaN
  return Math.min(BIN_COUNT - 1, Math.floor(Math.log2(ms / MIN_MS) * BINS_PER_DOUBLING));
}

/** The latency bin i stands for: the geometric middle of its range. */
export function binValue(bin: number): number {
  return MIN_MS * 2 ** ((bin + 0.5) / BINS_PER_DOUBLING);
}

/** [bin, count] pairs with count > 0, bins ascending. */
export type SparseHistogram = readonly (readonly [number, number])[];

/** The p-th percentile (0-100) of a histogram, rounded to 3 significant digits; null when it is empty. */
export function percentileOf(hist: SparseHistogram, p: number): number | null {
  let total = 0;
  for (const [, n] of hist) total += n;
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (const [bin, n] of hist) {
    seen += n;
    if (seen >= rank) return Number(binValue(bin).toPrecision(3));
  }
  return null; // not reached
}

/** Sums histograms (bins ascending). Entries that are not [bin, count] pairs of in-range integers are ignored. */
export function mergeHistograms(hists: readonly SparseHistogram[]): SparseHistogram {
  const sum = new Float64Array(BIN_COUNT);
  for (const h of hists) {
    for (const pair of h) {
      const [bin, n] = pair;
      if (Number.isInteger(bin) && bin >= 0 && bin < BIN_COUNT && Number.isFinite(n) && n > 0) sum[bin]! += n;
    }
  }
  const out: [number, number][] = [];
  for (let i = 0; i < BIN_COUNT; i++) if (sum[i]! > 0) out.push([i, sum[i]!]);
  return out;
}

/** What GET /status carries under stats.ops (see OpWindow.snapshot). */
export interface OpsJson {
  /** The seconds the rates and percentiles cover: the last complete ones. */
  readonly window_s: number;
  readonly ok_per_s: number;
  readonly failed_per_s: number;
  /** Latency of the successful requests in the window; null when there were none. */
  readonly p50_ms: number | null;
  readonly p99_ms: number | null;
  /** Since the node started. */
  readonly ok_total: number;
  readonly failed_total: number;
  readonly hist: SparseHistogram;
}

class Second {
  second = -1;
  ok = 0;
  failed = 0;
  readonly hist = new Uint32Array(BIN_COUNT);
}

export class OpWindow {
  /** windowS complete seconds plus the current one. */
  private readonly ring: Second[];
  private okTotal = 0;
  private failedTotal = 0;

  constructor(
    readonly windowS = 5,
    /** Milliseconds on a monotonic clock. */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.ring = Array.from({ length: windowS + 1 }, () => new Second());
  }

  /** A request answered after `ms`: ok (appended or read) or failed (any 503). */
  record(ms: number, ok: boolean): void {
    const second = Math.floor(this.now() / 1000);
    const b = this.ring[second % this.ring.length]!;
    if (b.second !== second) {
      b.second = second;
      b.ok = 0;
      b.failed = 0;
      b.hist.fill(0);
    }
    if (ok) {
      b.ok++;
      b.hist[binOf(ms)]!++;
      this.okTotal++;
    } else {
      b.failed++;
      this.failedTotal++;
    }
  }

  /** Rates and percentiles over the last windowS complete seconds (the current second is still filling). */
  snapshot(): OpsJson {
    const current = Math.floor(this.now() / 1000);
    const hist = new Float64Array(BIN_COUNT);
    let ok = 0;
    let failed = 0;
    for (const b of this.ring) {
      if (b.second < current - this.windowS || b.second >= current) continue;
      ok += b.ok;
      failed += b.failed;
      for (let i = 0; i < BIN_COUNT; i++) hist[i]! += b.hist[i]!;
    }
    const sparse: [number, number][] = [];
    for (let i = 0; i < BIN_COUNT; i++) if (hist[i]! > 0) sparse.push([i, hist[i]!]);
    const round = (x: number) => Math.round(x * 10) / 10;
    return {
      window_s: this.windowS,
      ok_per_s: round(ok / this.windowS),
      failed_per_s: round(failed / this.windowS),
      p50_ms: percentileOf(sparse, 50),
      p99_ms: percentileOf(sparse, 99),
      ok_total: this.okTotal,
      failed_total: this.failedTotal,
      hist: sparse,
    };
  }
}
