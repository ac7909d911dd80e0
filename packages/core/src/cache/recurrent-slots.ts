/**
 * The recurrent cells of a context: exactly `n_seq_max` of them, one per active sequence, each holding that
 * sequence's fixed-size state (and naming the sequence id used with llama.cpp). Lowest free slot first, so slot
 * ids stay small and reuse is predictable.
 */
export class RecurrentSlots {
  private readonly busy: boolean[];

  constructor(readonly count: number) {
    if (!Number.isInteger(count) || count <= 0) throw new RangeError(`slot count must be a positive integer, got ${count}`);
    this.busy = new Array<boolean>(count).fill(false);
  }

  /** Slots in use. */
  get inUse(): number {
    return this.busy.filter(Boolean).length;
  }

  /** Slots free. */
  get available(): number {
    return this.count - this.inUse;
  }

  /** Takes the lowest free slot, or null when all are busy. */
  acquire(): number | null {
    const slot = this.busy.indexOf(false);
    if (slot === -1) return null;
    this.busy[slot] = true;
    return slot;
  }

  /** Whether a slot is held. */
  isBusy(slot: number): boolean {
    return this.busy[slot] === true;
  }

  /** Frees a slot. Throws when it was not held (a double free is a bug). */
  release(slot: number): void {
    if (!this.busy[slot]) throw new Error(`slot ${slot} is not in use`);
    this.busy[slot] = false;
  }
}
