// The exactly-once window of ReplicatedList: the commands applied in the
// last `windowSlots` slots, for duplicate detection, kept as numbers only.
//
// Every node inserts one entry per applied command and drops it ~16,384
// slots later. As a Map of "clientId/commandId/payload" strings to objects,
// each entry was four heap objects that outlived V8's young generation and
// were copied into the old one: with the window cut to 64 slots (an
// experiment), three nodes spent 5-9% less CPU per append (two runs of two
// clusters side by side, 64 clients each; docs/performance.md). Here the
// entries are columns of typed arrays in a ring (oldest first, in slot
// order) with an open-addressing hash index over them: nothing per entry
// for the garbage collector to trace or move.

/** One entry's numbers, as ReplicatedList.state() lays them out. */
export const RECENT_FIELDS = 5;

const EMPTY = 0;
const TWO_POW_32 = 4294967296;

export class RecentWindow {
  /** Ring capacity (a power of two); entries are at sequence numbers [head, tail), stored at seq & mask. */
  private capacity = 1024;
  private mask = this.capacity - 1;
  private head = 0;
  private tail = 0;
  private clientIds = new Float64Array(this.capacity);
  private commandIds = new Float64Array(this.capacity);
  private payloads = new Float64Array(this.capacity);
  private indexes = new Float64Array(this.capacity);
  private slots = new Float64Array(this.capacity);
  private hashes = new Int32Array(this.capacity);
  /** Linear-probing index: ring position + 1, or EMPTY. Twice the ring's capacity, so at most half full. */
  private table = new Int32Array(2 * this.capacity);
  private tableMask = this.table.length - 1;

  get size(): number {
    return this.tail - this.head;
  }

  /** The list index at which this exact command was applied, if it is in the window. */
  indexOf(clientId: number, commandId: number, payload: number): number | undefined {
    const h = hash3(clientId, commandId, payload);
    for (let t = h & this.tableMask; ; t = (t + 1) & this.tableMask) {
      const e = this.table[t]!;
      if (e === EMPTY) return undefined;
      const p = e - 1;
      if (this.hashes[p] === h && this.clientIds[p] === clientId && this.commandIds[p] === commandId && this.payloads[p] === payload) {
        return this.indexes[p];
      }
    }
  }

  /** Adds a command applied at `slot` (not below the newest entry's slot), which the caller found absent. */
  push(clientId: number, commandId: number, payload: number, index: number, slot: number): void {
    if (this.size === this.capacity) this.grow();
    const p = this.tail++ & this.mask;
    const h = hash3(clientId, commandId, payload);
    this.clientIds[p] = clientId;
    this.commandIds[p] = commandId;
    this.payloads[p] = payload;
    this.indexes[p] = index;
    this.slots[p] = slot;
    this.hashes[p] = h;
    this.insert(p, h);
  }

  /** Drops the entries applied below `slot`, oldest first. */
  evictBefore(slot: number): void {
    while (this.head < this.tail) {
      const p = this.head & this.mask;
      if (this.slots[p]! >= slot) return;
      this.remove(p);
      this.head++;
    }
  }

  /** Every entry, oldest first: clientId, commandId, payload, index, slot. */
  flatten(): number[] {
    const out = new Array<number>(this.size * RECENT_FIELDS);
    let j = 0;
    for (let s = this.head; s < this.tail; s++) {
      const p = s & this.mask;
      out[j++] = this.clientIds[p]!;
      out[j++] = this.commandIds[p]!;
      out[j++] = this.payloads[p]!;
      out[j++] = this.indexes[p]!;
      out[j++] = this.slots[p]!;
    }
    return out;
  }

  clear(): void {
    this.head = this.tail = 0;
    this.table.fill(EMPTY);
  }

  private insert(p: number, h: number): void {
    let t = h & this.tableMask;
    while (this.table[t] !== EMPTY) t = (t + 1) & this.tableMask;
    this.table[t] = p + 1;
  }

  /** Takes ring position p out of the index, shifting later entries of its probe run back (no tombstones). */
  private remove(p: number): void {
    let hole = this.hashes[p]! & this.tableMask;
    while (this.table[hole] !== p + 1) hole = (hole + 1) & this.tableMask;
    for (let t = (hole + 1) & this.tableMask; this.table[t] !== EMPTY; t = (t + 1) & this.tableMask) {
      const home = this.hashes[this.table[t]! - 1]! & this.tableMask;
      // The entry at t may move into the hole unless its home lies cyclically in (hole, t].
      const stays = hole <= t ? home > hole && home <= t : home > hole || home <= t;
      if (!stays) {
        this.table[hole] = this.table[t]!;
        hole = t;
      }
    }
    this.table[hole] = EMPTY;
  }

  /** Doubles the ring (entries keep their sequence numbers, so their positions change) and rebuilds the index. */
  private grow(): void {
    const old = { clientIds: this.clientIds, commandIds: this.commandIds, payloads: this.payloads, indexes: this.indexes, slots: this.slots, hashes: this.hashes };
    const oldMask = this.mask;
    this.capacity *= 2;
    this.mask = this.capacity - 1;
    this.clientIds = new Float64Array(this.capacity);
    this.commandIds = new Float64Array(this.capacity);
    this.payloads = new Float64Array(this.capacity);
    this.indexes = new Float64Array(this.capacity);
    this.slots = new Float64Array(this.capacity);
    this.hashes = new Int32Array(this.capacity);
    this.table = new Int32Array(2 * this.capacity);
    this.tableMask = this.table.length - 1;
    for (let s = this.head; s < this.tail; s++) {
      const from = s & oldMask;
      const to = s & this.mask;
      this.clientIds[to] = old.clientIds[from]!;
      this.commandIds[to] = old.commandIds[from]!;
      this.payloads[to] = old.payloads[from]!;
      this.indexes[to] = old.indexes[from]!;
      this.slots[to] = old.slots[from]!;
      this.hashes[to] = old.hashes[from]!;
      this.insert(to, old.hashes[from]!);
    }
  }
}

/** A 32-bit hash of three safe integers (MurmurHash3's mixing over their low and high words). */
function hash3(a: number, b: number, c: number): number {
  let h = 0x2f1a3b5c;
  h = mix(h, a | 0);
  h = mix(h, Math.floor(a / TWO_POW_32) | 0);
  h = mix(h, b | 0);
  h = mix(h, Math.floor(b / TWO_POW_32) | 0);
  h = mix(h, c | 0);
  h = mix(h, Math.floor(c / TWO_POW_32) | 0);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function mix(h: number, word: number): number {
  let k = Math.imul(word, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}
