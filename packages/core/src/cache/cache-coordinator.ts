import { CellPool } from "./cell-pool.js";
import { RecurrentSlots } from "./recurrent-slots.js";

/** What admitting a request would take: a recurrent slot and its reserved cells. */
export interface AdmissionPlan {
  readonly slot: number;
  readonly cells: number;
}

/**
 * Fans cache decisions out to the cell pool (attention KV) and the recurrent slots, and reconciles them
 * conservatively: a request is admitted only when both have room. Plan, then commit: `planAdmission` changes
 * nothing and returns a plan or `null` (does not fit: queue); `commitAdmission` applies it.
 */
export class CacheCoordinator {
  readonly pool: CellPool;
  readonly slots: RecurrentSlots;

  constructor(options: { capacity: number; perSequenceLimit?: number; slots: number }) {
    this.pool = new CellPool(options.capacity, options.perSequenceLimit ?? options.capacity);
    this.slots = new RecurrentSlots(options.slots);
  }

  /** Whether a request needing `cells` could ever be admitted (on an empty cache). */
  couldEverFit(cells: number): boolean {
    return cells <= this.pool.capacity && cells <= this.pool.perSequenceLimit;
  }

  /** The slot and cells a request needing `cells` would get now, or null when it must wait. */
  planAdmission(cells: number): AdmissionPlan | null {
    if (this.slots.available === 0) return null;
    // The slot a fresh acquire would return: lowest free.
    let slot = 0;
    while (this.slots.isBusy(slot)) slot++;
    if (!this.pool.canReserve(slot, cells)) return null;
    return { slot, cells };
  }

  /** Applies a plan from {@link planAdmission} (made with nothing changed in between). */
  commitAdmission(plan: AdmissionPlan): void {
    const slot = this.slots.acquire();
    if (slot !== plan.slot || !this.pool.reserve(slot, plan.cells)) throw new Error("stale admission plan");
  }

  /** Frees a request's slot and cells. */
  release(slot: number): void {
    this.pool.release(slot);
    this.slots.release(slot);
  }

  /** True when nothing is held: no slot, no cell. */
  get idle(): boolean {
    return this.slots.inUse === 0 && this.pool.reservedCells === 0;
  }
}
