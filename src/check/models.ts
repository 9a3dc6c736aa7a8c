// The two models of the replicated list, for the linearizability checker.
//
// strict: an ok append of v from state st must reply exactly st ++ [v] (the
//   list right after it, which is what the HTTP contract promises); the new
//   state is st ++ [v]. An ok read must reply exactly st.
// appendable-list: Jepsen's old AppendableList model (SEED-CONTRACT.md): an ok
//   append of v with reply S from st is inconsistent if S is shorter than st,
//   or st is not a prefix of S, or v does not occur in S after the first
//   len(st) elements; otherwise the new state is st ++ [v]. Reads are as in
//   strict: the reply must equal st.
// In both, an info append may take effect (st ++ [v], nothing to check) or not;
// an info read constrains nothing; a fail never happened.
//
// States are lists, hash-consed in a trie (ListStore): a state is a node id,
// the list of the values on the path from the root. Appending is one map
// lookup, equality is id equality, and "st is a prefix of S" is an ancestor
// query answered in O(log n) with one jump pointer per node (Myers' skew-binary
// random-access lists). Nothing is O(length of the list) per step.

export type ModelName = "strict" | "appendable-list";
export const MODEL_NAMES: readonly ModelName[] = ["strict", "appendable-list"];

export function isModelName(s: string): s is ModelName {
  return (MODEL_NAMES as readonly string[]).includes(s);
}

/** Hash-consed lists of integers: node 0 is the empty list; node n is list(parent[n]) ++ [value[n]]. */
export class ListStore {
  private readonly parent: number[] = [-1];
  private readonly val: number[] = [0];
  private readonly dep: number[] = [0];
  private readonly jump: number[] = [0];
  // The first child inline (most nodes have at most one), the others in a map.
  private readonly firstChildValue: number[] = [0];
  private readonly firstChild: number[] = [-1];
  private readonly moreChildren: (Map<number, number> | undefined)[] = [undefined];
  /** Nodes of the prefixes of one long list, to intern lists that share it quickly. */
  private spine: number[] = [0];
  private spineValues: readonly number[] = [];

  static readonly EMPTY = 0;

  get size(): number {
    return this.parent.length;
  }

  depth(node: number): number {
    return this.dep[node] ?? 0;
  }

  /** The last element of a non-empty list. */
  last(node: number): number {
    return this.val[node] ?? 0;
  }

  parentOf(node: number): number {
    return this.parent[node] ?? -1;
  }

  /** The node of list(node) ++ [v], created if new. */
  child(node: number, v: number): number {
    const first = this.firstChild[node] ?? -1;
    if (first >= 0 && this.firstChildValue[node] === v) return first;
    const more = this.moreChildren[node];
    const found = more?.get(v);
    if (found !== undefined) return found;

    const id = this.parent.length;
    const d = (this.dep[node] ?? 0) + 1;
    // Myers' jump pointer: if the parent's jump and its jump's jump span equal
    // distances, skip both; otherwise jump to the parent. Gives O(log d) ancestor queries.
    const j1 = this.jump[node] ?? 0;
    const j2 = this.jump[j1] ?? 0;
    const jump = node !== 0 && (this.dep[node] ?? 0) - (this.dep[j1] ?? 0) === (this.dep[j1] ?? 0) - (this.dep[j2] ?? 0) ? j2 : node;
    this.parent.push(node);
    this.val.push(v);
    this.dep.push(d);
    this.jump.push(jump);
    this.firstChildValue.push(0);
    this.firstChild.push(-1);
    this.moreChildren.push(undefined);
    if (first < 0) {
      this.firstChild[node] = id;
      this.firstChildValue[node] = v;
    } else if (more === undefined) {
      this.moreChildren[node] = new Map([[v, id]]);
    } else {
      more.set(v, id);
    }
    return id;
  }

  /** The ancestor of `node` (its prefix) at depth d <= depth(node). */
  ancestorAt(node: number, d: number): number {
    let n = node;
    while ((this.dep[n] ?? 0) > d) {
      const j = this.jump[n] ?? 0;
      n = (this.dep[j] ?? 0) >= d ? j : (this.parent[n] ?? 0);
    }
    return n;
  }

  /** Whether list(a) is a prefix of list(b). */
  isPrefix(a: number, b: number): boolean {
    const da = this.depth(a);
    return da <= this.depth(b) && this.ancestorAt(b, da) === a;
  }

  /**
   * Makes `list` the spine: later intern() calls compare with it first and
   * only walk the trie from where they leave it.
   */
  setSpine(list: readonly number[]): void {
    const spine = [ListStore.EMPTY];
    let n = ListStore.EMPTY;
    for (const x of list) {
      n = this.child(n, x);
      spine.push(n);
    }
    this.spine = spine;
    this.spineValues = list;
  }

  /** Whether the node's list is a prefix of the spine. */
  onSpine(node: number): boolean {
    return this.spine[this.depth(node)] === node;
  }

  /** The node of a list. */
  intern(list: readonly number[]): number {
    const sv = this.spineValues;
    const m = Math.min(list.length, sv.length);
    let i = 0;
    while (i < m && list[i] === sv[i]) i++;
    let n = this.spine[i] ?? ListStore.EMPTY;
    for (; i < list.length; i++) n = this.child(n, list[i] ?? 0);
    return n;
  }

  toArray(node: number): number[] {
    const out: number[] = new Array<number>(this.depth(node));
    let n = node;
    while (n > 0) {
      out[(this.dep[n] ?? 1) - 1] = this.val[n] ?? 0;
      n = this.parent[n] ?? 0;
    }
    return out;
  }
}

/** An ok reply prepared for the models: its node, and where the op's own value last occurs in it. */
export interface PreparedReply {
  readonly node: number;
  /** Last index of the appended value in the reply, -1 if absent (appends only). */
  readonly lastIndexOfValue: number;
}

export function prepareReply(store: ListStore, reply: readonly number[], value: number | null): PreparedReply {
  return { node: store.intern(reply), lastIndexOfValue: value === null ? -1 : reply.lastIndexOf(value) };
}

/** A model as the search uses it: each returns the new state, or -1 if the op is inconsistent from `st`. */
export interface ListModel {
  readonly name: ModelName;
  appendOk(store: ListStore, st: number, v: number, reply: PreparedReply): number;
  readOk(store: ListStore, st: number, reply: PreparedReply): number;
  /** An info append that is linearized (takes effect). */
  appendInfo(store: ListStore, st: number, v: number): number;
  /** Why an ok op is inconsistent from state `st`, in words (plain arrays: for reports only). */
  whyNot(st: readonly number[], f: "append" | "read", v: number | null, reply: readonly number[]): string;
}

function readWhyNot(st: readonly number[], reply: readonly number[]): string {
  const i = firstDifference(st, reply);
  if (i < 0) return "";
  return `a read from ${showList(st, i)} must return exactly that list, but it returned ${showList(reply, i)}${differenceNote(st, reply, i)}`;
}

export const strictModel: ListModel = {
  name: "strict",
  appendOk(store, st, v, reply) {
    return reply.node !== ListStore.EMPTY && store.parentOf(reply.node) === st && store.last(reply.node) === v ? reply.node : -1;
  },
  readOk(_store, st, reply) {
    return reply.node === st ? st : -1;
  },
  appendInfo(store, st, v) {
    return store.child(st, v);
  },
  whyNot(st, f, v, reply) {
    if (f === "read") return readWhyNot(st, reply);
    const want = [...st, v ?? 0];
    const i = firstDifference(want, reply);
    if (i < 0) return "";
    return `an append of ${String(v)} to ${showList(st, i)} must reply ${showList(want, i)}, but it replied ${showList(reply, i)}${differenceNote(want, reply, i)}`;
  },
};

export const appendableListModel: ListModel = {
  name: "appendable-list",
  appendOk(store, st, v, reply) {
    const d = store.depth(st);
    if (!store.isPrefix(st, reply.node)) return -1; // also covers "S shorter than st"
    if (reply.lastIndexOfValue < d) return -1; // v not in S after the first len(st) elements
    return store.child(st, v);
  },
  readOk(_store, st, reply) {
    return reply.node === st ? st : -1;
  },
  appendInfo(store, st, v) {
    return store.child(st, v);
  },
  whyNot(st, f, v, reply) {
    if (f === "read") return readWhyNot(st, reply);
    if (reply.length < st.length) {
      return `an append to ${showList(st)} (${st.length} items) must reply with at least those items, but it replied ${showList(reply)} (${reply.length} items)`;
    }
    const i = firstDifference(st, reply.slice(0, st.length));
    if (i >= 0) {
      return `an append to ${showList(st, i)} must reply with a list that starts with it, but it replied ${showList(reply, i)}${differenceNote(st, reply, i)}`;
    }
    if (reply.lastIndexOf(v ?? 0) < st.length) {
      return `an append of ${String(v)} to ${showList(st)} must reply with ${String(v)} somewhere after the first ${st.length} items, but it replied ${showList(reply)}`;
    }
    return "";
  },
};

export function modelByName(name: ModelName): ListModel {
  return name === "strict" ? strictModel : appendableListModel;
}

// ---- Plain-array helpers, for the reports ----

/** First index where a and b differ (including one ending first), or -1 if equal. */
export function firstDifference(a: readonly number[], b: readonly number[]): number {
  const m = Math.min(a.length, b.length);
  for (let i = 0; i < m; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : m;
}

function differenceNote(want: readonly number[], got: readonly number[], i: number): string {
  if (i >= want.length) return ` (${got.length - want.length} extra item${got.length - want.length === 1 ? "" : "s"} from position ${i})`;
  if (i >= got.length) return ` (it lacks ${want.slice(i).length === 1 ? `${String(want[i])}` : `${want.length - i} items from position ${i}, starting with ${String(want[i])}`})`;
  const expected = want[i] ?? 0;
  const missing = !got.includes(expected);
  return ` (position ${i} holds ${String(got[i])} instead of ${String(expected)}${missing ? `, and ${String(expected)} is missing altogether` : ""})`;
}

/**
 * A list for people: short lists in full, long ones abbreviated around
 * position `focus` (and always showing the last item), e.g. "[..41 items.., 17, 3, ..5 items.., 9]".
 */
export function showList(list: readonly number[], focus?: number): string {
  const n = list.length;
  if (n <= 8) return `[${list.join(", ")}]`;
  const keep = new Set<number>([0, n - 1]);
  if (focus === undefined) {
    for (let i = n - 4; i < n; i++) keep.add(i);
  } else {
    for (let i = focus - 2; i <= focus + 2; i++) if (i >= 0 && i < n) keep.add(i);
  }
  const parts: string[] = [];
  let skipped = 0;
  for (let i = 0; i < n; i++) {
    if (keep.has(i)) {
      if (skipped > 0) parts.push(`..${skipped} item${skipped === 1 ? "" : "s"}..`);
      skipped = 0;
      parts.push(String(list[i]));
    } else {
      skipped++;
    }
  }
  return `[${parts.join(", ")}]`;
}
