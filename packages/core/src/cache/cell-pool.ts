/**
 * Accounting for the attention KV cells of one llama.cpp context, the way the unified cache holds them: one pool
 * of `capacity` cells (n_ctx) that any sequence may draw from. Per-slot streams (non-unified) are modelled as a
 * per-sequence limit on top.
 *
 * ```
 *  capacity ──────────────────────────────────────────────────────────────┐
 *  │ seq 0:  [segment a: 40 cells, refs 2][segment b: 60 cells, refs 1]      │
 *  │ seq 3:  [segment a ─ shared with seq 0 ][segment c: 120 cells, refs 1]  │
 *  │ free:   ░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░░ │
 *  └────────────────────────────────────────────────────────────────────────┘
 * ```
 *
 * Cells are held in segments with reference counts: `reserve` gives a sequence a segment of its own, `share` lets
 * another sequence reference the first cells of one (llama.cpp's `seq_cp` in a unified cache shares cells rather
 * than copying them — the basis of prefix sharing), and a segment returns to the free count when its last holder
 * releases it. Requests reserve what they may need (prompt + max tokens) when admitted, so a running request never
 * finds the pool full mid-generation; `written` tracks what was really filled. The pool owns the numbers, the
 * scheduler the policy. "Does not fit" is a return value (`false`); misuse throws.
 */
export class CellPool {
  private readonly segments = new Map<number, { cells: number; refs: number }>();
  private readonly held = new Map<number, number[]>();
  private readonly written = new Map<number, number>();
  private nextSegment = 1;
  private allocated = 0;

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

  /** Cells held by no segment. */
  get free(): number {
    return this.capacity - this.allocated;
  }

  /** Cells held by segments (each shared cell counted once). */
  get reservedCells(): number {
    return this.allocated;
  }

  /** Cells actually written across sequences (shared cells counted per sequence). */
  get usedCells(): number {
    let total = 0;
    for (const n of this.written.values()) total += n;
    return total;
  }

  /** Sequences holding cells. */
  get sequences(): number[] {
    return [...this.held.keys()];
  }

  /** Cells a sequence holds (own and shared). */
  private holding(sequence: number): number {
    return (this.held.get(sequence) ?? []).reduce((total, id) => total + this.segments.get(id)!.cells, 0);
  }

  /** Whether `cells` more could be reserved for `sequence` now. */
  canReserve(sequence: number, cells: number): boolean {
    return cells <= this.free && this.holding(sequence) + cells <= this.perSequenceLimit;
  }

  /** Reserves `cells` more for `sequence` in a segment of its own; `false` (nothing changed) when they do not fit. */
  reserve(sequence: number, cells: number): boolean {
    if (!Number.isInteger(cells) || cells < 0) throw new RangeError(`cells must be a non-negative integer, got ${cells}`);
    if (!this.canReserve(sequence, cells)) return false;
    const id = this.nextSegment++;
    this.segments.set(id, { cells, refs: 1 });
    this.held.set(sequence, [...(this.held.get(sequence) ?? []), id]);
    this.allocated += cells;
    return true;
  }

  /**
   * Lets `destination` reference the first `cells` written cells of `source` (its first segment is split so that the
   * shared part is a segment of its own, counted once, with two holders). Returns `false` when `source` has not
   * written that many cells or the destination would pass its limit.
   */
  share(source: number, destination: number, cells: number): boolean {
    const [first] = this.held.get(source) ?? [];
    if (first === undefined || cells <= 0 || cells > (this.written.get(source) ?? 0)) return false;
    if (this.holding(destination) + cells > this.perSequenceLimit) return false;
    const segment = this.segments.get(first)!;
    if (cells > segment.cells) return false;
    let shared = first;
    if (cells < segment.cells) {
      // Split: [shared part][rest], both still held by every holder of the original.
      shared = this.nextSegment++;
      this.segments.set(shared, { cells, refs: segment.refs });
      segment.cells -= cells;
      for (const ids of this.held.values()) {
        const at = ids.indexOf(first);
        if (at !== -1) ids.splice(at, 0, shared);
      }
    }
    this.segments.get(shared)!.refs++;
    this.held.set(destination, [shared, ...(this.held.get(destination) ?? [])]);
    this.written.set(destination, (this.written.get(destination) ?? 0) + cells);
    return true;
  }

  /** Records that `cells` more were written for `sequence` (within what it holds). */
  markWritten(sequence: number, cells: number): void {
    const written = (this.written.get(sequence) ?? 0) + cells;
    const holding = this.holding(sequence);
    if (written > holding) throw new Error(`sequence ${sequence} wrote ${written} cells but holds ${holding}`);
    this.written.set(sequence, written);
  }

  /** Cells held by / written for one sequence. */
  usage(sequence: number): { reserved: number; written: number } {
    return { reserved: this.holding(sequence), written: this.written.get(sequence) ?? 0 };
  }

  /** Reference count of the segment holding a sequence's first cell (1 = not shared), 0 when it holds none. */
  sharedBy(sequence: number): number {
    const [first] = this.held.get(sequence) ?? [];
    return first === undefined ? 0 : this.segments.get(first)!.refs;
  }

  /** Gives back everything `sequence` holds; segments whose last holder it was return to the free count. */
  release(sequence: number): void {
    for (const id of this.held.get(sequence) ?? []) {
      const segment = this.segments.get(id)!;
      if (--segment.refs === 0) {
        this.allocated -= segment.cells;
        this.segments.delete(id);
      }
    }
    this.held.delete(sequence);
    this.written.delete(sequence);
  }
}
