// The state machine's snapshots share the live list instead of copying it
// (ListItems): what a snapshot names must not change as the list grows or is
// replaced by a restore.
import { describe, expect, it } from "vitest";
import { ReplicatedList, itemsArray } from "../../src/core/replicated-list.js";

const cmd = (clientId: number, commandId: number, payload: number) => ({ clientId, commandId, payload });

describe("ReplicatedList snapshots", () => {
  it("a snapshot keeps naming the list as it was while the list grows", () => {
    const list = new ReplicatedList(100, 100);
    list.apply(cmd(1, 1, 10), 0);
    list.apply(cmd(1, 2, 11), 1);
    const before = list.state();
    list.apply(cmd(1, 3, 12), 2);
    expect(before.items.array).toBe(list.values); // shared, not copied
    expect(itemsArray(before.items)).toEqual([10, 11]);
    expect(itemsArray(list.state().items)).toEqual([10, 11, 12]);
  });

  it("a restore leaves earlier snapshots' items alone, and restores the tables", () => {
    const list = new ReplicatedList(100, 100);
    list.apply(cmd(1, 1, 10), 0);
    const before = list.state();
    const other = new ReplicatedList(100, 100);
    for (let i = 0; i < 3; i++) other.apply(cmd(2, i + 1, 20 + i), i);
    list.restore(other.state());
    expect(itemsArray(before.items)).toEqual([10]);
    expect([...list.values]).toEqual([20, 21, 22]);
    expect(list.apply(cmd(2, 3, 22), 3)).toEqual({ kind: "applied", index: 2, duplicate: true });
  });

  it("restores from a prefix of a longer array", () => {
    const list = new ReplicatedList(100, 100);
    list.restore({ items: { array: [1, 2, 3, 4], length: 2 }, sessions: [], recent: [] });
    expect([...list.values]).toEqual([1, 2]);
  });
});
