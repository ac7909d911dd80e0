import type { CacheSpec } from "./cache-spec.js";

/** Checkpoints per slot the default budget holds. */
export const defaultCheckpointsPerSlot = 4;

/**
 * Bytes of one checkpoint of a model: its recurrent state for one sequence (f32 conv + SSM rows of every recurrent
 * layer), and for a sliding-window model the window's K and V of every sliding layer (f16 assumed), what
 * `getState(seq, { partial: true })` returns, give or take headers. Undefined without recurrent layers
 * (attention alone needs no checkpoints).
 */
export function checkpointBytes(spec: CacheSpec): number | undefined {
  const recurrent = spec.recurrent;
  if (recurrent === null) return undefined;
  const { slidingWindow, layers } = spec.attention;
  const window = layers.reduce((sum, layer) => sum + (layer.sliding ? slidingWindow * (layer.keyWidth + layer.valueWidth) * 2 : 0), 0);
  return recurrent.layers.length * (recurrent.convElements + recurrent.stateElements) * 4 + window;
}

/** The default checkpoint budget: {@link defaultCheckpointsPerSlot} checkpoints per slot. */
export function defaultCheckpointBudgetBytes(spec: CacheSpec, slots: number): number {
  return defaultCheckpointsPerSlot * slots * (checkpointBytes(spec) ?? 0);
}

/**
 * Recurrent-state checkpoints in host memory under a byte budget.
 *
 * A checkpoint is the recurrent (non-rewindable) part of one sequence's state right after a given prefix, as
 * `getState(seq, { partial: true })` returns it. Paired with attention cells still in the cache, it lets a request
 * resume at that prefix instead of prefilling from token 0.
 *
 * **Eviction policy.** When a new checkpoint does not fit, the store drops the checkpoints with the lowest
 * *utility* until it does (or refuses the newcomer when it would be the least useful itself):
 *
 *     utility = marginalTokens / bytes × 0.5 ^ (age / halfLife)
 *
 * * `marginalTokens` — the prefill the checkpoint saves beyond the nearest checkpoint above it on the same prefix
 *   (if it goes, a hit falls back to that one): a checkpoint 6,000 tokens into a conversation is worth more than
 *   one 20 tokens past another. This is Marconi's FLOPs-saved-per-byte, with prefill tokens as the FLOPs proxy
 *   (prefill cost is near-linear in tokens at the lengths served here).
 * * `bytes` — checkpoints of one model are all the same size today; the division keeps the policy right if
 *   differently sized entries (e.g. with KV) are ever stored.
 * * `age` — store events (captures and hits) since it was last used; `halfLife` = the number of entries the
 *   budget holds, so a checkpoint untouched for a whole turnover of the store is worth half as much. Recency
 *   matters because chat traffic is bursty per conversation; value matters because a plain LRU throws away a long
 *   system prompt's checkpoint as soon as a few short requests pass.
 *
 * Time is a logical clock, so the policy is deterministic and testable. The store is pure: the caller maps ids to
 * tree nodes (see {@link PrefixIndex}) and supplies `marginalTokens`.
 */
export class CheckpointStore {
  private readonly entries = new Map<number, Entry>();
  private nextId = 1;
  private clock = 0;
  private total = 0;
  private evictedCount = 0;

  /**
   * @param budgetBytes most bytes held at once (0 disables the store)
   * @param marginalTokens the prefill a checkpoint saves beyond the nearest one above it (asked at eviction time,
   *   since it changes as neighbours come and go)
   */
  constructor(
    readonly budgetBytes: number,
    private readonly marginalTokens: (id: number) => number,
  ) {
    if (!Number.isFinite(budgetBytes) || budgetBytes < 0) throw new RangeError(`budgetBytes must be a non-negative number, got ${budgetBytes}`);
  }

  /** Bytes held. */
  get bytes(): number {
    return this.total;
  }

  /** Checkpoints held. */
  get count(): number {
    return this.entries.size;
  }

  /** Checkpoints dropped to make room, since creation. */
  get evictions(): number {
    return this.evictedCount;
  }

  /**
   * Whether a checkpoint of `bytes` saving `marginalTokens` would be admitted now (without evicting anything more
   * useful). Lets the caller skip reading the state at all.
   */
  wouldAdmit(bytes: number, marginalTokens: number): boolean {
    if (bytes > this.budgetBytes || marginalTokens <= 0) return false;
    if (this.total + bytes <= this.budgetBytes) return true;
    const score = marginalTokens / bytes;
    let room = this.budgetBytes - this.total;
    for (const entry of this.byUtility()) {
      if (entry.utility >= score) return false;
      room += entry.bytes.length;
      if (room >= bytes) return true;
    }
    return false;
  }

  /**
   * Stores a checkpoint; returns its id and the ids evicted for it, or `undefined` (nothing changed) when it is
   * refused: larger than the budget, or less useful than everything it would displace.
   */
  add(state: Uint8Array, marginalTokens: number): { id: number; evicted: number[] } | undefined {
    if (!this.wouldAdmit(state.length, marginalTokens)) return undefined;
    const evicted: number[] = [];
    for (const entry of this.byUtility()) {
      if (this.total + state.length <= this.budgetBytes) break;
      this.delete(entry.id);
      this.evictedCount++;
      evicted.push(entry.id);
    }
    const id = this.nextId++;
    this.entries.set(id, { id, state, lastUsed: ++this.clock });
    this.total += state.length;
    return { id, evicted };
  }

  /** The bytes of a checkpoint, marking it used. */
  use(id: number): Uint8Array {
    const entry = this.entries.get(id);
    if (entry === undefined) throw new Error(`checkpoint ${id} is not in the store`);
    entry.lastUsed = ++this.clock;
    return entry.state;
  }

  /** Whether the store holds `id`. */
  has(id: number): boolean {
    return this.entries.has(id);
  }

  /** Drops a checkpoint (no longer reachable). */
  delete(id: number): void {
    const entry = this.entries.get(id);
    if (entry === undefined) return;
    this.entries.delete(id);
    this.total -= entry.state.length;
  }

  /** Entries from least to most useful (ties: least recently used first). */
  private byUtility(): { id: number; bytes: Uint8Array; utility: number }[] {
    const halfLife = Math.max(8, this.entries.size);
    return [...this.entries.values()]
      .map((entry) => ({
        id: entry.id,
        bytes: entry.state,
        lastUsed: entry.lastUsed,
        utility: (this.marginalTokens(entry.id) / entry.state.length) * 0.5 ** ((this.clock - entry.lastUsed) / halfLife),
      }))
      .sort((a, b) => a.utility - b.utility || a.lastUsed - b.lastUsed);
  }
}

interface Entry {
  readonly id: number;
  readonly state: Uint8Array;
  lastUsed: number;
}
