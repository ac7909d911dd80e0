import { describe, expect, test } from "vitest";
import { CacheCoordinator } from "./cache-coordinator.js";
import { CellPool } from "./cell-pool.js";
import { RecurrentSlots } from "./recurrent-slots.js";

describe("CellPool", () => {
  test("reserve until full: 'does not fit' is false and changes nothing", () => {
    const pool = new CellPool(1000);
    expect(pool.reserve(0, 600)).toBe(true);
    expect(pool.reserve(1, 500)).toBe(false);
    expect([pool.free, pool.reservedCells]).toEqual([400, 600]);
    expect(pool.reserve(1, 400)).toBe(true);
    expect(pool.free).toBe(0);
    pool.release(0);
    expect(pool.free).toBe(600);
  });

  test("per-slot streams: a sequence cannot pass its stream even when the pool has room", () => {
    const pool = new CellPool(1024, 256);
    expect(pool.reserve(0, 300)).toBe(false);
    expect(pool.reserve(0, 256)).toBe(true);
    expect(pool.reserve(0, 1)).toBe(false);
    expect(pool.reserve(1, 256)).toBe(true);
  });

  test("written cells stay within the reservation", () => {
    const pool = new CellPool(100);
    pool.reserve(0, 10);
    pool.markWritten(0, 10);
    expect(() => pool.markWritten(0, 1)).toThrow(/wrote 11 cells but holds 10/);
    expect(pool.usage(0)).toEqual({ reserved: 10, written: 10 });
  });

  test("shared prefixes are reference-counted: counted once, freed by their last holder", () => {
    const pool = new CellPool(1000);
    pool.reserve(0, 100);
    pool.markWritten(0, 40);
    expect(pool.share(0, 1, 50)).toBe(false); // only 40 written
    expect(pool.share(0, 1, 40)).toBe(true);
    expect(pool.sharedBy(0)).toBe(2);
    expect(pool.sharedBy(1)).toBe(2);
    expect(pool.reservedCells).toBe(100); // the 40 shared cells are counted once
    expect(pool.usage(1)).toEqual({ reserved: 40, written: 40 });
    pool.reserve(1, 30);
    expect(pool.reservedCells).toBe(130);
    pool.release(0);
    expect(pool.reservedCells).toBe(70); // seq 0's own 60 freed, the shared 40 still held by seq 1
    expect(pool.sharedBy(1)).toBe(1);
    pool.release(1);
    expect([pool.reservedCells, pool.free]).toEqual([0, 1000]);
  });
});

describe("RecurrentSlots and CacheCoordinator", () => {
  test("lowest free slot first; double free is a bug", () => {
    const slots = new RecurrentSlots(3);
    expect([slots.acquire(), slots.acquire(), slots.acquire(), slots.acquire()]).toEqual([0, 1, 2, null]);
    slots.release(1);
    expect(slots.acquire()).toBe(1);
    slots.release(1);
    expect(() => slots.release(1)).toThrow(/not in use/);
  });

  test("planAdmission needs both a slot and room in the pool; plan, then commit", () => {
    const cache = new CacheCoordinator({ capacity: 512, slots: 2 });
    const first = cache.planAdmission(300)!;
    expect(first).toEqual({ slot: 0, cells: 300 });
    expect(cache.idle).toBe(true); // planning changed nothing
    cache.commitAdmission(first);
    expect(cache.planAdmission(300)).toBeNull(); // a slot is free, the pool is not
    const second = cache.planAdmission(200)!;
    cache.commitAdmission(second);
    expect(cache.planAdmission(1)).toBeNull(); // no slot
    cache.release(0);
    cache.release(1);
    expect(cache.idle).toBe(true);
    expect(cache.couldEverFit(513)).toBe(false);
  });
});
