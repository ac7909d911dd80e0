/**
 * Accounting for the attention KV cells of one llama.cpp context, the way the unified cache holds them: one pool
 * of `capacity` cells (n_ctx) that any sequence may draw from. Per-slot streams (non-unified) are modelled as a
 * per-sequence limit on top.
 *
 * ```
 *  capacity ─────────────────────────────────────────────────────────────┐
 *  │ seq 0: reserved ████████░░░░  (used ████ of it)                      │
 *  │ seq 3: reserved ██████████████████░░░░░░                              │
 *  │ free:  ░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░ │
 *  └──────────────────────────────────────────────────────────────────────┘
 * ```
 *
 * Requests reserve what they may need (prompt + max tokens) when admitted, so a running request can never find
 * the pool full mid-generation; `used` tracks what was really written. The pool owns the numbers; the scheduler
 * holds the policy. "Does not fit" is a return value (`false`), misuse throws.
 */
export class CellPool {
  private readonly reserved = new Map<number, number>();
  private readonly written = new Map<number, number>();
  private reservedTotal = 0;

  /**
   * @param capacity cells in the pool (the context's `n_ctx`)
   * @param perSequenceLimit most cells one sequence can hold (`n_ctx_seq`; equal to `capacity` when unified)
   */
  constructor(
    readonly capacity: number,
    readonly perSequenceLimit: number = capacity,
  ) {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  /** Cells not reserved by any sequence. */
  get free(): number {
    return this.capacity - this.reservedTotal;
  }

  /** Cells reserved across sequences. */
  get reservedCells(): number {
    return this.reservedTotal;
  }

  /** Cells actually written across sequences. */
  get usedCells(): number {
    let total = 0;
    for (const n of this.written.values()) total += n;
    return total;
  }

  /** Sequences holding a reservation. */
  get sequences(): number[] {
    return [...this.reserved.keys()];
  }

  /** Whether `cells` more could be reserved for `sequence` now. */
  canReserve(sequence: number, cells: number): boolean {
    const current = this.reserved.get(sequence) ?? 0;
    return cells <= this.free && current + cells <= this.perSequenceLimit;
  }

  /** Reserves `cells` more for `sequence`; `false` (nothing changed) when they do not fit. */
  reserve(sequence: number, cells: number): boolean {
    if (!Number.isInteger(cells) || cells < 0) throw new RangeError(`cells must be a non-negative integer, got ${cells}`);
    if (!this.canReserve(sequence, cells)) return false;
    this.reserved.set(sequence, (this.reserved.get(sequence) ?? 0) + cells);
    this.reservedTotal += cells;
    return true;
  }

  /** Records that `cells` more were written for `sequence` (within its reservation). */
  markWritten(sequence: number, cells: number): void {
    const written = (this.written.get(sequence) ?? 0) + cells;
    const reserved = this.reserved.get(sequence) ?? 0;
    if (written > reserved) throw new Error(`sequence ${sequence} wrote ${written} cells but reserved ${reserved}`);
    this.written.set(sequence, written);
  }

  /** Cells reserved by / written for one sequence. */
  usage(sequence: number): { reserved: number; written: number } {
    return { reserved: this.reserved.get(sequence) ?? 0, written: this.written.get(sequence) ?? 0 };
  }

  /** Gives back everything `sequence` held. */
  release(sequence: number): void {
    this.reservedTotal -= this.reserved.get(sequence) ?? 0;
    this.reserved.delete(sequence);
    this.written.delete(sequence);
  }
}
