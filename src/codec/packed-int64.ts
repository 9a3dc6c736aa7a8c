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

/** An optional leading varint field, then packed fields, as the generated encoder writes them. */
function encodeFields(head: readonly [field: number, value: number] | null, runs: readonly PackedRun[]): Uint8Array {
  const sizes: number[] = [];
  let total = 0;
  if (head !== null && head[1] !== 0) total += 1 + int64Size(head[1]); // proto3: a zero scalar is not written
  for (const [, values, from, to] of runs) {
    let payload = 0;
    for (let i = from; i < to; i++) payload += int64Size(values[i]!);
    sizes.push(payload);
    if (to > from) total += 1 + int64Size(payload) + payload; // proto3: an empty repeated field is not written
  }
  const out = new Uint8Array(total);
  let pos = 0;
  if (head !== null && head[1] !== 0) {
    out[pos++] = (head[0] << 3) | VARINT;
    pos = writeInt64(out, pos, head[1]);
  }
  runs.forEach(([field, values, from, to], r) => {
    if (to <= from) return;
    out[pos++] = (field << 3) | LENGTH_DELIMITED;
    pos = writeInt64(out, pos, sizes[r]!);
    for (let i = from; i < to; i++) pos = writeInt64(out, pos, values[i]!);
  });
  return out;
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
