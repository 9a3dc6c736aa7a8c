// The snapshot's bulk: a ListState's three packed `repeated int64` fields,
// and list.bin's ListChunks, encoded byte for byte as the generated
// encoders do, but without their per-number BigInt conversion. For a
// 40,000-item list and a full dedup window the generated path took 10-50 ms
// on the dev VM, on every node at every compaction; this one 4-10
// (docs/performance.md). Only encoding is here: decoding happens once per
// start, and the generated decoder does it.

/** Field numbers of ListState (proto/paxos/v1/paxos.proto) and ListChunk (storage.proto). */
const ITEMS = 1;
const SESSIONS = 2;
const RECENT = 3;
const CHUNK_START = 1;
const CHUNK_ITEMS = 2;
const VARINT = 0;
const LENGTH_DELIMITED = 2;
const TWO_POW_32 = 4294967296;

interface Int64Lists {
  readonly items: readonly number[];
  readonly sessions: readonly number[];
  readonly recent: readonly number[];
}

/** A packed `repeated int64` field holding values[from, to). */
type PackedRun = readonly [field: number, values: readonly number[], from: number, to: number];

/** The bytes of a ListState message holding these lists (every number a safe integer). */
export function encodeListState(s: Int64Lists): Uint8Array {
  return encodeFields(null, [
    [ITEMS, s.items, 0, s.items.length],
    [SESSIONS, s.sessions, 0, s.sessions.length],
    [RECENT, s.recent, 0, s.recent.length],
  ]);
}

/** The bytes of a ListChunk message (storage.proto) holding items[start, end). */
export function encodeListChunk(items: readonly number[], start: number, end: number): Uint8Array {
  return encodeFields([CHUNK_START, start], [[CHUNK_ITEMS, items, start, end]]);
}

/**
 * An optional leading varint field, then packed fields, as the generated
 * encoder writes them. The loops over the numbers are in packedSize and
 * writePacked, small functions V8 optimizes once: this one runs once per
 * compaction, and when it held them (in a forEach closure) each new kind of
 * input deoptimized it and its recompiling took 30-45 ms of a node's CPU,
 * several times over a fresh node's first 40,000 appends (docs/performance.md).
 */
function encodeFields(head: readonly [field: number, value: number] | null, runs: readonly PackedRun[]): Uint8Array {
  const [headField, headValue] = head ?? [0, 0];
  const sizes = new Array<number>(runs.length);
  let total = headValue !== 0 ? 1 + int64Size(headValue) : 0; // proto3: a zero scalar is not written
  for (let r = 0; r < runs.length; r++) {
    const run = runs[r]!;
    const payload = packedSize(run[1], run[2], run[3]);
    sizes[r] = payload;
    if (run[3] > run[2]) total += 1 + int64Size(payload) + payload; // proto3: an empty repeated field is not written
  }
  const out = new Uint8Array(total);
  let pos = 0;
  if (headValue !== 0) {
    out[pos++] = (headField << 3) | VARINT;
    pos = writeInt64(out, pos, headValue);
  }
  for (let r = 0; r < runs.length; r++) {
    const run = runs[r]!;
    if (run[3] <= run[2]) continue;
    out[pos++] = (run[0] << 3) | LENGTH_DELIMITED;
    pos = writeInt64(out, pos, sizes[r]!);
    pos = writePacked(out, pos, run[1], run[2], run[3]);
  }
  return out;
}

/** Bytes of values[from, to) as int64 varints. */
function packedSize(values: readonly number[], from: number, to: number): number {
  let size = 0;
  for (let i = from; i < to; i++) size += int64Size(values[i]!);
  return size;
}

/** Writes values[from, to) as int64 varints at `pos`; returns the position after them. */
function writePacked(out: Uint8Array, pos: number, values: readonly number[], from: number, to: number): number {
  for (let i = from; i < to; i++) pos = writeInt64(out, pos, values[i]!);
  return pos;
}

/** Bytes of `n` as an int64 varint: negative numbers take ten (two's complement, as protobuf writes them). */
function int64Size(n: number): number {
  if (n >= 0 && n < 0x10000000) return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4;
  let lo = n >>> 0;
  let hi = Math.floor(n / TWO_POW_32) >>> 0;
  let size = 1;
  while (hi !== 0 || lo > 0x7f) {
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
    size++;
  }
  return size;
}

/** Writes `n` as an int64 varint at `pos`; returns the position after it. */
function writeInt64(out: Uint8Array, pos: number, n: number): number {
  // ToUint32 takes n modulo 2^32 and floor(n / 2^32) is the signed high word: together the
  // 64-bit two's complement of any safe integer, with no BigInt.
  let lo = n >>> 0;
  let hi = Math.floor(n / TWO_POW_32) >>> 0;
  while (hi !== 0 || lo > 0x7f) {
    out[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  out[pos++] = lo;
  return pos;
}
