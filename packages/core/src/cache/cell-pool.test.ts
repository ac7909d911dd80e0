import { describe, expect, test } from "vitest";
import { CellPool } from "./cell-pool.js";

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

  test("a prefix spanning several segments is shared; truncation splits segments for every holder", () => {
    const pool = new CellPool(1000);
    pool.reserve(0, 100);
    pool.markWritten(0, 100);
    expect(pool.share(0, 1, 60)).toBe(true);
    pool.reserve(1, 50);
    pool.markWritten(1, 30); // seq 1: [60 shared][30 written + 20 reserved]
    expect(pool.reservedCells).toBe(150);
    expect(pool.share(1, 2, 80)).toBe(true); // crosses from the shared segment into seq 1's own
    expect(pool.usage(2)).toEqual({ reserved: 80, written: 80 });
    expect(pool.share(1, 2, 10)).toBe(false); // seq 2 already holds cells
    expect(pool.share(1, 3, 91)).toBe(false); // seq 1 wrote only 90
    expect(pool.reservedCells).toBe(150); // sharing allocates nothing
    // Dropping seq 0 frees only what no one else holds; dropping 1 and 2 together would free 40 + 20 + 10.
    expect(pool.freedBy([0])).toBe(40);
    expect(pool.freedBy([1, 2])).toBe(50);
    // Seq 1 keeps [0, 70): cells 80..90 and its 20 unwritten ones are freed; 70..80 stay, seq 2 still holds them.
    pool.truncate(1, 70);
    expect(pool.usage(1)).toEqual({ reserved: 70, written: 70 });
    expect(pool.usage(2)).toEqual({ reserved: 80, written: 80 });
    expect(pool.reservedCells).toBe(120);
    pool.release(2);
    expect(pool.reservedCells).toBe(110);
    pool.release(0);
    pool.release(1);
    expect([pool.reservedCells, pool.free, pool.usedCells]).toEqual([0, 1000, 0]);
  });

  test("truncate keeps only written cells and refuses to keep more; clone is independent", () => {
    const pool = new CellPool(100);
    pool.reserve(0, 50);
    pool.markWritten(0, 20);
    expect(() => pool.truncate(0, 21)).toThrow(/cannot keep 21/);
    const copy = pool.clone();
    pool.truncate(0, 20);
    expect(pool.free).toBe(80);
    expect(copy.free).toBe(50);
    pool.truncate(0, 0);
    expect(pool.sequences).toEqual([]);
  });
});
