import { describe, expect, test } from "vitest";
import { PrefixIndex } from "./prefix-index.js";

const seq = (...runs: number[][]) => runs.flat();
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe("PrefixIndex", () => {
  const system = range(1000, 50);

  test("two slots sharing a system prompt: the match reports how far cells are held and where each path ends", () => {
    const index = new PrefixIndex();
    const a = seq(system, range(1, 20));
    const b = seq(system, range(100, 30));
    index.hold(0, a);
    index.hold(1, b);
    expect(index.nodeCount).toBe(3); // system, a's tail, b's tail

    const c = seq(system, range(1, 10), [7]);
    const match = index.match(c);
    expect(match.heldDepth).toBe(60);
    expect(match.heldBy).toBe(0);
    expect(match.candidates).toEqual([]); // no checkpoint, no path ends on c's way

    const extended = seq(a, [5, 6]);
    const hit = index.match(extended, extended.length - 1);
    expect(hit.candidates).toEqual([{ depth: 70, checkpoint: undefined, holders: [0], ends: [0] }]);
    // The limit keeps a resume point from swallowing the whole prompt.
    expect(index.match(a, a.length - 1).candidates).toEqual([]);
  });

  test("checkpoints sit on held prefixes, deepest first; releasing the last holder orphans them and prunes the tree", () => {
    const index = new PrefixIndex();
    const a = seq(system, range(1, 20));
    index.hold(0, a, 50);
    index.attachCheckpoint(a, 50, 7);
    index.hold(0, a);
    index.attachCheckpoint(a, 70, 8);
    index.hold(1, seq(system, [9, 9]));
    expect(() => index.attachCheckpoint(seq(system, range(500, 5)), 55, 9)).toThrow(/no slot holds/);
    const match = index.match(seq(a, [1]));
    expect(match.candidates.map((c) => [c.depth, c.checkpoint])).toEqual([
      [70, 8],
      [50, 7],
    ]);
    expect(index.checkpointValue(8)).toEqual({ depth: 70, marginalTokens: 20 });
    expect(index.checkpointValue(7)).toEqual({ depth: 50, marginalTokens: 50 });
    // Slot 0 goes: the checkpoint only it held (70) is orphaned; the system prompt's stays (slot 1 holds it).
    expect(index.release(0)).toEqual([8]);
    expect(index.checkpointCount).toBe(1);
    expect(index.release(1)).toEqual([7]);
    expect([index.nodeCount, index.checkpointCount]).toEqual([0, 0]);
  });

  test("re-holding a shorter path (a slot cut back) releases what lay beyond it", () => {
    const index = new PrefixIndex();
    const a = seq(system, range(1, 20));
    index.hold(0, a);
    index.attachCheckpoint(a, 70, 1);
    expect(index.hold(0, a, 55)).toEqual([1]);
    expect(index.heldLength(0)).toBe(55);
    expect(index.match(a).heldDepth).toBe(55);
  });

  test("detaching a checkpoint keeps the path; a purely recurrent model keeps checkpoints without holders", () => {
    const index = new PrefixIndex();
    index.hold(0, system);
    index.attachCheckpoint(system, 50, 3);
    index.detachCheckpoint(3);
    expect(index.match(seq(system, [1])).candidates).toEqual([{ depth: 50, checkpoint: undefined, holders: [0], ends: [0] }]);

    const recurrent = new PrefixIndex(false);
    recurrent.attachCheckpoint(system, 30, 4);
    expect(recurrent.match(system).candidates.map((c) => c.checkpoint)).toEqual([4]);
    recurrent.detachCheckpoint(4);
    expect(recurrent.nodeCount).toBe(0);
  });
});
