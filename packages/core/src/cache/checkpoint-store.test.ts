import { describe, expect, test } from "vitest";
import { CheckpointStore } from "./checkpoint-store.js";

const state = (bytes: number) => new Uint8Array(bytes);

describe("CheckpointStore", () => {
  test("the byte budget is never exceeded; a checkpoint larger than the budget is refused", () => {
    const value = new Map<number, number>();
    const store = new CheckpointStore(1000, (id) => value.get(id) ?? 0);
    for (let i = 0; i < 50; i++) {
      const added = store.add(state(300), 100 + i);
      if (added !== undefined) value.set(added.id, 100 + i);
      expect(store.bytes).toBeLessThanOrEqual(1000);
    }
    expect(store.count).toBe(3);
    expect(store.evictions).toBe(47);
    expect(store.add(state(1001), 1e9)).toBeUndefined();
  });

  test("eviction keeps the checkpoint that saves the most prefill over recent short ones", () => {
    const value = new Map<number, number>();
    const store = new CheckpointStore(3 * 100, (id) => value.get(id) ?? 0);
    const add = (marginal: number) => {
      const added = store.add(state(100), marginal);
      if (added !== undefined) value.set(added.id, marginal);
      return added;
    };
    const system = add(4000)!.id; // a long shared system prompt
    const short = [add(20)!.id, add(30)!.id];
    const next = add(25)!; // full: the least useful (20 tokens) goes, the system prompt stays
    expect(next.evicted).toEqual([short[0]]);
    expect(store.has(system)).toBe(true);
    // A newcomer less useful than everything it would displace is refused, and nothing changes.
    expect(add(1)).toBeUndefined();
    expect(store.count).toBe(3);
  });

  test("recency: an old checkpoint loses to a fresh one of equal value; using it refreshes it", () => {
    const value = new Map<number, number>();
    const store = new CheckpointStore(2 * 10, (id) => value.get(id) ?? 0);
    const add = (marginal: number) => {
      const added = store.add(state(10), marginal)!;
      value.set(added.id, marginal);
      return added;
    };
    const a = add(100).id;
    const b = add(100).id;
    store.use(a); // a is now the more recent one
    const c = add(100);
    expect(c.evicted).toEqual([b]);
    expect(store.has(a)).toBe(true);
    expect(() => store.use(b)).toThrow(/not in the store/);
  });

  test("wouldAdmit answers without changing anything", () => {
    const store = new CheckpointStore(100, () => 10);
    expect(store.wouldAdmit(50, 10)).toBe(true);
    expect(store.wouldAdmit(50, 0)).toBe(false); // saves nothing
    store.add(state(60), 10);
    expect(store.wouldAdmit(50, 5)).toBe(false); // would displace something more useful
    expect(store.wouldAdmit(50, 50)).toBe(true);
    expect([store.count, store.bytes]).toEqual([1, 60]);
  });
});
