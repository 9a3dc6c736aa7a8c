// The contract's reply, {"state":[...]}, without serializing the list again
// for every reply: the list only grows, so its JSON text is kept in one
// growing buffer with the byte offset where each element ends, and a reply
// for the first n elements is a view of that buffer's prefix, then "]}".
//
// Not a copy: a fresh reply-sized buffer per reply (11.5 KB on average at the
// bench's cold 32-client level) is memory outside V8's heap that only full
// collections free, and V8 ran them several times a second; in full-reply
// runs GC took 25-33% of the nodes' CPU. Writing the view and "]}" instead:
// CPU per append summed over the nodes, list from 5,000 to 10,000, 444-508
// -> 280-296 us (2 alternated pairs; docs/performance.md).

const OPEN = Buffer.from('{"state":[');
const CLOSE = Buffer.from("]}");

export class ListJson {
  private buf = Buffer.alloc(64 * 1024);
  private len = OPEN.length;
  /** ends[i]: bytes of the text up to and including element i. */
  private ends = new Float64Array(1024);
  private count = 0;

  constructor() {
    OPEN.copy(this.buf, 0);
  }

  /** Appends the elements of `values` this text does not have yet. */
  sync(values: readonly number[]): void {
    for (let i = this.count; i < values.length; i++) {
      const piece = (i === 0 ? "" : ",") + String(values[i]);
      this.reserve(piece.length);
      this.len += this.buf.write(piece, this.len, "latin1");
      if (i >= this.ends.length) {
        const grown = new Float64Array(this.ends.length * 2);
        grown.set(this.ends);
        this.ends = grown;
      }
      this.ends[i] = this.len;
    }
    this.count = Math.max(this.count, values.length);
  }

  /**
   * The reply body for the list's first n elements (n <= what was synced), as
   * two pieces to send one after the other: a view of the text (its bytes never
   * change: the text only grows past them, and growing copies it elsewhere)
   * and "]}".
   */
  reply(n: number): readonly [Buffer, Buffer] {
    if (n > this.count) throw new RangeError(`list text has ${this.count} elements, not ${n}`);
    const end = n === 0 ? OPEN.length : this.ends[n - 1]!;
    return [this.buf.subarray(0, end), CLOSE];
  }

  private reserve(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    // Double the capacity; replies already handed out keep the old buffer alive as long as they need it.
    const grown = Buffer.alloc(Math.max(this.buf.length * 2, this.len + extra));
    this.buf.copy(grown, 0, 0, this.len);
    this.buf = grown;
  }
}
