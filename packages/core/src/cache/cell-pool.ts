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
 * A sequence holds an ordered list of segments covering its positions from 0: `reserve` appends a segment of its
 * own, `share` lets an empty sequence reference another's first written cells (llama.cpp's `seq_cp` in a unified
 * cache shares cells rather than copying them — the basis of prefix sharing), `truncate` gives back everything
 * past a position (llama.cpp's `seq_rm(seq, p, -1)`), and a segment returns to the free count when its last holder
 * lets go. A request reserves ahead of what it writes (its prompt and a headroom, or its whole maximum) and reserves
 * more as it goes; a decode never writes past a reservation, and `written` tracks what was really filled. The pool owns the numbers, the scheduler
 * the policy. "Does not fit" is a return value (`false`); misuse throws.
 */
export class CellPool {
  private segments = new Map<number, { cells: number; refs: number }>();
  private held = new Map<number, number[]>();
  private written = new Map<number, number>();
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

  /** An independent copy (to try a plan's steps without touching the real pool). */
  clone(): CellPool {
    const copy = new CellPool(this.capacity, this.perSequenceLimit);
    copy.segments = new Map([...this.segments].map(([id, s]) => [id, { ...s }]));
    copy.held = new Map([...this.held].map(([seq, ids]) => [seq, [...ids]]));
    copy.written = new Map(this.written);
    copy.nextSegment = this.nextSegment;
    copy.allocated = this.allocated;
    return copy;
  }

  /** Takes over the state of `other` (a clone of this pool on which a change was tried and succeeded). */
  assign(other: CellPool): void {
    if (other.capacity !== this.capacity || other.perSequenceLimit !== this.perSequenceLimit) throw new Error("not a clone of this pool");
    this.segments = other.segments;
    this.held = other.held;
    this.written = other.written;
    this.nextSegment = other.nextSegment;
    this.allocated = other.allocated;
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
    let total = 0;
    for (const id of this.held.get(sequence) ?? []) total += this.segments.get(id)!.cells;
    return total;
  }

  /** Whether `cells` more could be reserved for `sequence` now. */
  canReserve(sequence: number, cells: number): boolean {
    return cells <= this.free && this.holding(sequence) + cells <= this.perSequenceLimit;
  }

  /** Reserves `cells` more for `sequence` in a segment of its own; `false` (nothing changed) when they do not fit. */
  reserve(sequence: number, cells: number): boolean {
    if (!Number.isInteger(cells) || cells < 0) throw new RangeError(`cells must be a non-negative integer, got ${cells}`);
    if (!this.canReserve(sequence, cells)) return false;
    if (cells === 0) return true;
    const id = this.nextSegment++;
    this.segments.set(id, { cells, refs: 1 });
    this.held.set(sequence, [...(this.held.get(sequence) ?? []), id]);
    this.allocated += cells;
    return true;
  }

  /**
   * Lets the empty sequence `destination` reference the first `cells` written cells of `source` (segments are
   * split so that the shared part is counted once, with one more holder). Returns `false`, changing nothing, when
   * `source` has not written that many cells, `destination` holds cells already or would pass its limit.
   */
  share(source: number, destination: number, cells: number): boolean {
    if (cells <= 0 || cells > (this.written.get(source) ?? 0) || this.holding(destination) > 0 || cells > this.perSequenceLimit) return false;
    this.splitAt(source, cells);
    const shared: number[] = [];
    let covered = 0;
    for (const id of this.held.get(source)!) {
      if (covered >= cells) break;
      const segment = this.segments.get(id)!;
      segment.refs++;
      shared.push(id);
      covered += segment.cells;
    }
    this.held.set(destination, shared);
    this.written.set(destination, cells);
    return true;
  }

  /**
   * Keeps only the first `keep` cells of `sequence` (which must have been written) and gives back the rest, own
   * reservation included; shared cells past `keep` lose one holder.
   */
  truncate(sequence: number, keep: number): void {
    const written = this.written.get(sequence) ?? 0;
    if (!Number.isInteger(keep) || keep < 0 || keep > written) throw new RangeError(`cannot keep ${keep} cells of a sequence that wrote ${written}`);
    if (keep === 0) {
      this.release(sequence);
      return;
    }
    this.splitAt(sequence, keep);
    const ids = this.held.get(sequence)!;
    let covered = 0;
    let at = 0;
    while (covered < keep) covered += this.segments.get(ids[at++]!)!.cells;
    for (const id of ids.splice(at)) this.unref(id);
    this.written.set(sequence, keep);
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

  /** Cells that releasing every sequence in `sequences` would return to the free count. */
  freedBy(sequences: Iterable<number>): number {
    const drops = new Map<number, number>();
    for (const sequence of sequences) for (const id of this.held.get(sequence) ?? []) drops.set(id, (drops.get(id) ?? 0) + 1);
    let freed = 0;
    for (const [id, n] of drops) {
      const segment = this.segments.get(id)!;
      if (segment.refs === n) freed += segment.cells;
    }
    return freed;
  }

  /** Gives back everything `sequence` holds; segments whose last holder it was return to the free count. */
  release(sequence: number): void {
    for (const id of this.held.get(sequence) ?? []) this.unref(id);
    this.held.delete(sequence);
    this.written.delete(sequence);
  }

  private unref(id: number): void {
    const segment = this.segments.get(id)!;
    if (--segment.refs === 0) {
      this.allocated -= segment.cells;
      this.segments.delete(id);
    }
  }

  /** Makes a segment boundary fall exactly `cells` into `sequence` (splitting one segment for all its holders). */
  private splitAt(sequence: number, cells: number): void {
    let covered = 0;
    for (const id of this.held.get(sequence) ?? []) {
      const segment = this.segments.get(id)!;
      if (covered + segment.cells <= cells) {
        covered += segment.cells;
        if (covered === cells) return;
        continue;
      }
      const head = cells - covered;
      const headId = this.nextSegment++;
      this.segments.set(headId, { cells: head, refs: segment.refs });
      segment.cells -= head;
      for (const ids of this.held.values()) {
        const at = ids.indexOf(id);
        if (at !== -1) ids.splice(at, 0, headId);
      }
      return;
    }
  }
}
