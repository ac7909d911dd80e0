import type { BackendContext } from "../backend/backend-context.js";
import { InvalidSessionError } from "../errors/invalid-session-error.js";
import { CellPool } from "./cell-pool.js";
import { CheckpointStore, defaultCheckpointsPerSlot } from "./checkpoint-store.js";
import { PrefixIndex } from "./prefix-index.js";

/** Options of the prefix cache (see {@link CacheCoordinator}). */
export interface PrefixCacheOptions {
  /** Reuse cached prefixes across requests and slots. Defaults to `true`. */
  readonly enabled?: boolean;
  /**
   * Host memory for recurrent checkpoints, in bytes; never exceeded. Defaults to 4 checkpoints per slot
   * (`4 × slots × checkpointBytes`), i.e. 1.5 GiB for Nemotron 3 Nano with 8 slots.
   */
  readonly checkpointBudgetBytes?: number;
  /**
   * Shortest shared prefix worth a branch-point checkpoint, or worth waiting for while another request is still
   * prefilling it. Defaults to 64 tokens.
   */
  readonly minBranchTokens?: number;
}

/** Where an admitted request resumes: `depth` prompt tokens come from the cache. */
export interface CacheReuse {
  /** Prompt tokens served from the cache. */
  readonly depth: number;
  /** Slot whose attention cells (and, without a checkpoint, live recurrent state) are reused; undefined when none are needed. */
  readonly source: number | undefined;
  /** Checkpoint restored into the slot; undefined when the source's live state sits exactly at `depth`. */
  readonly checkpoint: number | undefined;
}

/** What admitting a request would do. Made by {@link CacheCoordinator.plan}, applied by {@link CacheCoordinator.admit}. */
export interface AdmissionPlan {
  readonly type: "admit";
  /** The slot (= llama.cpp sequence id) the request gets. */
  readonly slot: number;
  /** New cells reserved: the prompt past the reused prefix plus the most the request may generate. */
  readonly cells: number;
  /** Idle slots whose cached prefixes are dropped to make room. */
  readonly evict: readonly number[];
  /** The cached prefix reused, if any. */
  readonly reuse: CacheReuse | undefined;
  /** Prompt tokens whose attention cells were cached but could not be reused for want of recurrent state there. */
  readonly lostTokens: number;
  /** Prompt positions where the prefill must pause to capture a checkpoint (branch points, caller's hints). */
  readonly splits: readonly number[];
}

/**
 * What {@link CacheCoordinator.plan} decided: admit; wait (no slot or no room: queue); or wait for `leader`, a
 * request still prefilling a long prefix this one shares, to reach `depth` (then reuse it instead of computing it
 * twice).
 */
export type AdmissionDecision = AdmissionPlan | { readonly type: "wait" } | { readonly type: "wait-for-prefix"; readonly leader: number; readonly depth: number };

/** Options of {@link CacheCoordinator.plan}. */
export interface PlanOptions {
  /** Cells that must stay free after the admission (room for the running requests to grow). Defaults to 0. */
  readonly keepFree?: number;
  /** The request brings its whole sequence state (a swapped-out request): no prefix reuse, no checkpoints. */
  readonly restore?: boolean;
}

/** A sequence's whole state set aside in host memory (a swapped-out request): `written` cells and the recurrent state. */
export interface SwappedSequence {
  readonly state: Uint8Array;
  readonly written: number;
}

/** Live numbers of the cache. */
export interface CacheStats {
  /** Slots serving a request. */
  readonly slotsActive: number;
  /** Slots holding a finished request's cells for reuse. */
  readonly slotsCached: number;
  /** Cells only cached slots hold: what dropping every cached prefix would free. */
  readonly cachedCells: number;
  /** Admissions that reused a cached prefix / that did not. */
  readonly hits: number;
  readonly misses: number;
  /** Prompt tokens served from the cache. */
  readonly tokensReused: number;
  /** Prompt tokens whose attention cells were cached but had no recurrent state to resume from. */
  readonly tokensLost: number;
  /** Checkpoints held, their bytes, the budget, and how many were evicted for room. */
  readonly checkpoints: number;
  readonly checkpointBytes: number;
  readonly checkpointBudgetBytes: number;
  readonly checkpointEvictions: number;
  /** Cached prefixes (idle slots) dropped to make room. */
  readonly prefixEvictions: number;
}

type SlotPhase = "empty" | "active" | "idle";

/** The sequence operations the coordinator needs from a context. */
export type CacheContext = Pick<BackendContext, "seqRemove" | "seqCopy" | "getState" | "setState" | "posMax">;

/** How the coordinator is set up for one context. */
export interface CacheCoordinatorOptions {
  /** The context whose sequences the slots are. */
  readonly context: CacheContext;
  /** Cells in the KV pool (`n_ctx`). */
  readonly capacity: number;
  /** Cells one sequence may hold (`n_ctx_seq`). Defaults to `capacity`. */
  readonly perSequenceLimit?: number;
  /** Slots (`n_seq_max`). */
  readonly slots: number;
  /** One pool shared by all slots: only then can a slot reuse another's cells. Defaults to `true`. */
  readonly unified?: boolean;
  /** Whether the model keeps attention KV / recurrent state (a hybrid has both). Default both. */
  readonly hasAttention?: boolean;
  readonly hasRecurrent?: boolean;
  /** Bytes of one recurrent checkpoint, for the default budget (learned from the first capture otherwise). */
  readonly checkpointBytes?: number;
  readonly prefixCache?: PrefixCacheOptions;
}

/**
 * The hybrid cache of one context: the shared KV cell pool, the recurrent slots, and the prefix cache on top —
 * a radix {@link PrefixIndex} of what every slot's cells hold, and a {@link CheckpointStore} of recurrent states.
 *
 * ```
 *   slot 0  active  [system ─────][turn 1 ──────][turn 2 ───▶            cells shared ═, own ─
 *   slot 1  idle    [system ═════][turn 1 ══════]               ◀ cached: reusable, evictable
 *   slot 2  active  [system ═════][other user ──────▶
 *   checkpoints (host RAM): ● end of system   ● end of turn-1 prompt   ● end of turn-1 answer
 * ```
 *
 * A prompt resumes at the deepest prefix for which both exist: the attention cells in some slot (attention can be
 * cut anywhere) and the recurrent state at exactly that position — a checkpoint, or the live state of a slot whose
 * cells end there (recurrent state cannot be rewound). The request's slot then shares those cells
 * (`seqCopy`: no copy in a unified pool) or keeps them in place, gets the state restored, and prefills the rest.
 * Finished requests leave their cells cached in their slot, idle; they are dropped (least recently used first)
 * only when a slot or pool room is needed, so caching never blocks admission.
 *
 * Checkpoints are placed where hits happen: the end of each prompt (the next turn extends it), the end of each
 * answer, branch points (where a new prompt leaves a cached one: the next prompt with the same system prompt
 * resumes there), and positions the caller names (message boundaries). A checkpoint needs the prefill chunk to end
 * exactly at its position: one extra chunk boundary per checkpoint, never a fixed stride.
 *
 * Plan, then commit: {@link CacheCoordinator.plan} changes nothing; {@link CacheCoordinator.admit} runs the backend operations first and commits
 * the accounting only when they all succeeded, so a failure leaves every slot consistent.
 */
export class CacheCoordinator {
  readonly pool: CellPool;
  private readonly context: CacheContext;
  private readonly phase: SlotPhase[];
  private readonly lastUsed: number[];
  private readonly prompts: (Int32Array | undefined)[];
  private readonly splitPoints: Set<number>[];
  private readonly pendingCaptures = new Map<number, number>();
  private readonly index: PrefixIndex;
  private readonly store: CheckpointStore;
  private readonly enabled: boolean;
  private readonly unified: boolean;
  private readonly hasAttention: boolean;
  private readonly hasRecurrent: boolean;
  private readonly minBranchTokens: number;
  private checkpointBytes: number | undefined;
  private clock = 0;
  private counters = { hits: 0, misses: 0, tokensReused: 0, tokensLost: 0, prefixEvictions: 0 };

  constructor(options: CacheCoordinatorOptions) {
    const prefix = options.prefixCache ?? {};
    const slots = options.slots;
    if (!Number.isInteger(slots) || slots <= 0) throw new RangeError(`slot count must be a positive integer, got ${slots}`);
    this.context = options.context;
    this.pool = new CellPool(options.capacity, options.perSequenceLimit ?? options.capacity);
    this.phase = new Array<SlotPhase>(slots).fill("empty");
    this.lastUsed = new Array<number>(slots).fill(0);
    this.prompts = new Array<Int32Array | undefined>(slots).fill(undefined);
    this.splitPoints = Array.from({ length: slots }, () => new Set<number>());
    this.enabled = prefix.enabled ?? true;
    this.unified = options.unified ?? true;
    this.hasAttention = options.hasAttention ?? true;
    this.hasRecurrent = options.hasRecurrent ?? true;
    this.minBranchTokens = prefix.minBranchTokens ?? 64;
    if (!Number.isInteger(this.minBranchTokens) || this.minBranchTokens < 1) {
      throw new RangeError(`minBranchTokens must be a positive integer, got ${prefix.minBranchTokens}`);
    }
    this.checkpointBytes = options.checkpointBytes;
    const budget = prefix.checkpointBudgetBytes ?? (options.checkpointBytes !== undefined ? defaultCheckpointsPerSlot * slots * options.checkpointBytes : 1024 ** 3);
    if (!Number.isFinite(budget) || budget < 0) throw new RangeError(`checkpointBudgetBytes must be a non-negative number of bytes, got ${budget}`);
    this.index = new PrefixIndex(this.hasAttention);
    this.store = new CheckpointStore(this.enabled && this.hasRecurrent ? budget : 0, (id) => this.index.checkpointValue(id)?.marginalTokens ?? 0);
  }

  /** Slots in all. */
  get slots(): number {
    return this.phase.length;
  }

  /** Slots neither serving a request nor already claimed: what a new request could get without waiting. */
  get freeSlots(): number {
    return this.phase.filter((p) => p !== "active").length;
  }

  /**
   * Decides how a request with `prompt`, which may then grow to `totalCells` cells, would be admitted now.
   * Changes nothing. `hints` are prompt positions worth a checkpoint (e.g. message boundaries).
   */
  plan(prompt: Int32Array, totalCells: number, hints: readonly number[] = [], pinnedSlot?: number, options: PlanOptions = {}): AdmissionDecision {
    const limit = prompt.length - 1; // at least one token must be evaluated to get logits
    const keepFree = options.keepFree ?? 0;
    // A sequence restored whole (a swapped-out request) brings its own cells and state: nothing to reuse.
    const found = this.enabled && options.restore !== true ? this.findReuse(prompt, limit) : { reuse: undefined, heldDepth: 0 };
    let reuse = found.reuse;
    const reused = reuse?.depth ?? 0;

    if (this.enabled && options.restore !== true) {
      const leader = this.prefillingLeader(prompt, limit, reused);
      if (leader !== undefined) return { type: "wait-for-prefix", ...leader };
    }

    // The slot: the one asked for; else the source itself when this request continues it (or nothing else is
    // free), else an empty slot, else the least recently used idle one.
    const source = reuse?.source;
    const sourceIdle = source !== undefined && this.phase[source] === "idle";
    const empty = this.phase.indexOf("empty");
    const idle = this.idleByAge();
    let slot: number;
    if (pinnedSlot !== undefined) {
      if (this.phase[pinnedSlot] === "active") return { type: "wait" };
      slot = pinnedSlot;
    } else if (sourceIdle && (this.pool.usage(source).written === reused || empty === -1)) slot = source;
    else if (empty !== -1) slot = empty;
    else if (idle.some((s) => s !== source)) slot = idle.find((s) => s !== source)!;
    else if (sourceIdle) slot = source;
    else return { type: "wait" };
    // Per-slot streams cannot share cells: only in-place reuse works there.
    if (reuse !== undefined && source !== undefined && slot !== source && (!this.unified || !this.hasAttention)) reuse = undefined;

    // When the pool is too tight to keep the source's other cells, resume in place (its tail is dropped), and when
    // even that does not fit, start cold: a cached prefix never keeps a request waiting.
    const coldSlot = pinnedSlot ?? (empty !== -1 ? empty : idle[0]);
    const room =
      this.room(slot, reuse, totalCells, idle, keepFree) ??
      (sourceIdle && pinnedSlot === undefined && slot !== source ? this.room(source, reuse, totalCells, idle, keepFree) : undefined) ??
      (reuse !== undefined && coldSlot !== undefined ? this.room(coldSlot, undefined, totalCells, idle, keepFree) : undefined);
    if (room === undefined) return { type: "wait" };
    reuse = room.reuse;
    const depth = reuse?.depth ?? 0;

    const splits = new Set<number>();
    if (this.enabled && this.hasRecurrent && options.restore !== true) {
      const branch = Math.min(found.heldDepth, limit);
      if (branch - depth >= this.minBranchTokens) splits.add(branch);
      for (const hint of hints) if (Number.isInteger(hint) && hint > depth && hint < prompt.length) splits.add(hint);
    }
    return {
      type: "admit",
      slot: room.slot,
      cells: totalCells - depth,
      evict: room.evict,
      reuse,
      lostTokens: Math.max(0, Math.min(found.heldDepth, limit) - depth),
      splits: [...splits].sort((a, b) => a - b),
    };
  }

  /**
   * Whether `slot` resuming `reuse` (or cold) fits the pool, tried on a copy: which cached prefixes (idle slots,
   * least recently used first, never the source being copied) must go for the request's new cells.
   */
  private room(slot: number, reuse: CacheReuse | undefined, totalCells: number, idle: readonly number[], keepFree: number): { slot: number; reuse: CacheReuse | undefined; evict: number[] } | undefined {
    const inPlace = reuse?.source === slot;
    const depth = reuse?.depth ?? 0;
    const pool = this.pool.clone();
    const evict: number[] = [];
    if (this.phase[slot] === "idle" && !inPlace) {
      evict.push(slot);
      pool.release(slot);
    }
    if (inPlace) pool.truncate(slot, depth);
    else if (reuse?.source !== undefined) pool.share(reuse.source, slot, depth);
    // Purely recurrent models resume from a checkpoint alone: the positions are reserved like new ones.
    const needed = totalCells - depth + (reuse !== undefined && reuse.source === undefined ? depth : 0);
    const fits = () => pool.canReserve(slot, needed) && pool.free - needed >= keepFree;
    for (const victim of idle) {
      if (fits()) break;
      if (victim === slot || victim === reuse?.source) continue;
      evict.push(victim);
      pool.release(victim);
    }
    return fits() ? { slot, reuse, evict } : undefined;
  }

  /**
   * Applies a plan from {@link CacheCoordinator.plan} (made with nothing changed in between): drops the evicted prefixes, prepares
   * the slot (shared cells, restored state), then commits. Throws when a backend operation fails; the slot is then
   * left empty and every count consistent.
   */
  admit(plan: AdmissionPlan, prompt: Int32Array, restore?: SwappedSequence): void {
    for (const victim of plan.evict) {
      this.drop(victim);
      this.counters.prefixEvictions++;
    }
    const { slot, reuse } = plan;
    const inPlace = reuse?.source === slot;
    try {
      if (!inPlace) this.context.seqRemove(slot);
      if (restore !== undefined) this.context.setState(slot, restore.state);
      if (reuse !== undefined) {
        if (reuse.source !== undefined && !inPlace) this.context.seqCopy(reuse.source, slot, 0, reuse.depth);
        if (reuse.checkpoint !== undefined) this.context.setState(slot, this.store.use(reuse.checkpoint), { partial: true });
        if (inPlace && this.pool.usage(slot).written > reuse.depth && !this.context.seqRemove(slot, reuse.depth, -1)) {
          throw new Error(`slot ${slot}: the cache refused to cut at ${reuse.depth}`);
        }
      }
    } catch (error) {
      this.drop(slot);
      throw error;
    }
    const depth = reuse?.depth ?? 0;
    const pool = this.pool.clone(); // commit the accounting only once all of it has worked
    if (inPlace) pool.truncate(slot, depth);
    else if (reuse?.source !== undefined) pool.share(reuse.source, slot, depth);
    else if (depth > 0) {
      pool.reserve(slot, depth); // purely recurrent: positions restored from a checkpoint alone
      pool.markWritten(slot, depth);
    }
    if (!pool.reserve(slot, plan.cells)) {
      this.drop(slot);
      throw new Error("stale admission plan: the pool changed since it was made");
    }
    if (restore !== undefined) pool.markWritten(slot, restore.written);
    this.pool.assign(pool);
    this.dropCheckpoints(this.index.hold(slot, prompt, restore?.written ?? depth));
    this.phase[slot] = "active";
    this.lastUsed[slot] = ++this.clock;
    this.prompts[slot] = prompt;
    this.splitPoints[slot] = new Set(plan.splits);
    if (depth > 0) {
      this.counters.hits++;
      this.counters.tokensReused += depth;
    } else {
      this.counters.misses++;
    }
    this.counters.tokensLost += plan.lostTokens;
  }

  /**
   * Reserves `cells` more for the request on `slot` (it is about to write past its reservation), dropping cached
   * prefixes (least recently used first) when the pool is short. Returns `false`, changing nothing, when even that
   * is not enough: the caller must preempt a request.
   */
  grow(slot: number, cells: number): boolean {
    if (this.phase[slot] !== "active") throw new Error(`slot ${slot} serves no request`);
    const pool = this.pool.clone();
    const evict: number[] = [];
    for (const victim of this.idleByAge()) {
      if (pool.canReserve(slot, cells)) break;
      evict.push(victim);
      pool.release(victim);
    }
    if (!pool.canReserve(slot, cells)) return false;
    for (const victim of evict) {
      this.drop(victim);
      this.counters.prefixEvictions++;
    }
    this.pool.reserve(slot, cells);
    return true;
  }

  /**
   * Takes a running request off `slot` (preemption): its cells and state go, as after a failure. A swap reads the
   * state first (`getState`), a recompute re-prefills later; either way the slot is empty afterwards.
   */
  preempt(slot: number): void {
    if (this.phase[slot] !== "active") throw new Error(`slot ${slot} serves no request`);
    this.drop(slot);
  }

  /**
   * How many of `tokens` a request could resume from the cache without `slot`'s own cells (what a recompute of
   * the request on `slot` would not evaluate again).
   */
  resumeDepth(tokens: Int32Array, slot: number): number {
    if (!this.enabled) return 0;
    return this.findReuse(tokens, tokens.length - 1, slot).reuse?.depth ?? 0;
  }

  /**
   * What a saved session of `tokens` would hold: the idle slot whose cached cells are the longest prefix of `tokens`
   * with its live recurrent state at their end, and the checkpoints along that prefix. Undefined when no idle slot
   * caches a prefix of it.
   */
  sessionSource(tokens: Int32Array): { slot: number; depth: number; checkpoints: { depth: number; state: Uint8Array }[] } | undefined {
    if (!this.enabled) return undefined;
    const match = this.index.match(tokens, tokens.length);
    for (const candidate of match.candidates) {
      const slot = candidate.ends.find((s) => this.phase[s] === "idle" && this.pool.usage(s).written === candidate.depth);
      if (slot === undefined) continue;
      // The whole state carries the end; checkpoints before it let a later turn branch off earlier.
      const checkpoints = match.candidates.flatMap((c) => (c.depth < candidate.depth && c.checkpoint !== undefined && this.store.has(c.checkpoint) ? [{ depth: c.depth, state: this.store.use(c.checkpoint) }] : []));
      return { slot, depth: candidate.depth, checkpoints };
    }
    return undefined;
  }

  /**
   * Puts a saved sequence into a slot as a cached prefix (idle), as if a request had just finished there: `plan` is
   * {@link CacheCoordinator.plan}'s decision for `tokens` with `restore` (the slot, and the cached prefixes to drop for room). The
   * state and checkpoints are restored before anything is committed; a failure leaves the slot empty.
   */
  restoreIdle(plan: AdmissionPlan, tokens: Int32Array, state: Uint8Array, checkpoints: readonly { depth: number; state: Uint8Array }[]): void {
    for (const victim of plan.evict) {
      this.drop(victim);
      this.counters.prefixEvictions++;
    }
    const { slot } = plan;
    try {
      this.context.seqRemove(slot);
      this.context.setState(slot, state);
      // A file whose token list does not match its state (crafted, or written by a bug) would resume at a wrong position.
      const end = this.context.posMax(slot);
      if (end !== tokens.length - 1) throw new InvalidSessionError({ reason: "corrupt", message: `the session's state ends at position ${end} but it lists ${tokens.length} tokens` });
    } catch (error) {
      this.drop(slot);
      throw error;
    }
    const pool = this.pool.clone();
    if (!pool.reserve(slot, tokens.length)) {
      this.drop(slot);
      throw new Error("stale restore plan: the pool changed since it was made");
    }
    pool.markWritten(slot, tokens.length);
    this.pool.assign(pool);
    this.phase[slot] = "idle";
    this.lastUsed[slot] = ++this.clock;
    // Shallowest first, each registered up to its depth (an index node must end there), then the whole sequence.
    for (const checkpoint of [...checkpoints].sort((a, b) => a.depth - b.depth)) {
      if (checkpoint.depth <= tokens.length) this.capture(slot, tokens, checkpoint.depth, checkpoint.state);
    }
    this.dropCheckpoints(this.index.hold(slot, tokens, tokens.length));
  }

  /** Asks `slot`'s prefill to pause at `depth` (another request waits to reuse the prefix there). */
  addSplit(slot: number, depth: number): void {
    if (this.phase[slot] === "active") this.splitPoints[slot]!.add(depth);
  }

  /** Where the prefill chunk of `slot`, now at `prefilled`, must end at the latest: the next split, or the prompt end. */
  chunkEnd(slot: number, prefilled: number, promptLength: number): number {
    let end = promptLength;
    for (const split of this.splitPoints[slot]!) if (split > prefilled && split < end) end = split;
    return end;
  }

  /**
   * Called after each step that prefilled `slot` up to `prefilled`: at a split point or the prompt's end, the
   * prefix is registered and its state captured by the next {@link flushCaptures} — deferred so that the token this
   * step sampled reaches its caller first (reading a state costs a copy of its bytes).
   */
  afterPrefill(slot: number, prefilled: number): void {
    const prompt = this.prompts[slot];
    if (prompt === undefined || !this.enabled) return;
    if (prefilled === prompt.length || this.splitPoints[slot]!.has(prefilled)) this.pendingCaptures.set(slot, prefilled);
  }

  /**
   * Captures the checkpoints {@link afterPrefill} scheduled. Must run before anything else touches the context
   * (admission, the next decode). Throws when the context fails; the pending captures are dropped then.
   */
  flushCaptures(): void {
    const pending = [...this.pendingCaptures];
    this.pendingCaptures.clear();
    for (const [slot, depth] of pending) {
      const prompt = this.prompts[slot];
      if (prompt !== undefined && this.pool.usage(slot).written === depth) this.capture(slot, prompt, depth);
    }
  }

  /**
   * A request on `slot` ended. With `keep`, its cells (`tokens`, as far as written) stay cached in the slot, idle,
   * with a checkpoint at their end when `checkpoint` is set; otherwise (a failed decode may have left them
   * inconsistent) the slot is cleared.
   */
  finish(slot: number, tokens: ArrayLike<number>, options: { keep: boolean; checkpoint: boolean }): void {
    if (this.phase[slot] !== "active") return;
    const pendingDepth = this.pendingCaptures.get(slot);
    this.pendingCaptures.delete(slot);
    const written = this.pool.usage(slot).written;
    const prompt = this.prompts[slot];
    this.prompts[slot] = undefined;
    this.splitPoints[slot] = new Set();
    if (!this.enabled || !options.keep || written === 0) {
      this.drop(slot);
      return;
    }
    this.pool.truncate(slot, written);
    this.phase[slot] = "idle";
    this.lastUsed[slot] = ++this.clock;
    try {
      if (prompt !== undefined && pendingDepth === written) this.capture(slot, prompt, pendingDepth);
      if (options.checkpoint) this.capture(slot, tokens, written);
      else this.dropCheckpoints(this.index.hold(slot, tokens, written));
    } catch {
      this.drop(slot); // the context is gone: nothing left to cache
    }
  }

  /** Drops every cached prefix and checkpoint (idle slots become empty); active requests are untouched. */
  clearCached(): void {
    for (let slot = 0; slot < this.phase.length; slot++) if (this.phase[slot] === "idle") this.drop(slot);
  }

  /** Slot phases, for /slots. */
  slotPhases(): readonly SlotPhase[] {
    return [...this.phase];
  }

  /** Tokens cached in a slot (its written cells). */
  cachedTokens(slot: number): number {
    return this.pool.usage(slot).written;
  }

  /** Live numbers. */
  stats(): CacheStats {
    const idle = this.phase.flatMap((p, slot) => (p === "idle" ? [slot] : []));
    return {
      slotsActive: this.phase.filter((p) => p === "active").length,
      slotsCached: idle.length,
      cachedCells: this.pool.freedBy(idle),
      ...this.counters,
      checkpoints: this.store.count,
      checkpointBytes: this.store.bytes,
      checkpointBudgetBytes: this.store.budgetBytes,
      checkpointEvictions: this.store.evictions,
    };
  }

  /** The deepest place `prompt` can resume from (at most `limit` tokens in), and how far its cells are cached. */
  private findReuse(prompt: Int32Array, limit: number, exclude?: number): { reuse: CacheReuse | undefined; heldDepth: number } {
    const match = this.index.match(prompt, limit);
    const heldDepth = match.heldDepth;
    if (!this.hasRecurrent) {
      // Attention alone can be cut anywhere: the whole cached prefix is reusable.
      const depth = Math.min(heldDepth, limit);
      if (exclude !== undefined && match.heldBy === exclude) {
        const other = match.candidates.find((c) => c.holders.some((s) => s !== exclude));
        return { reuse: other !== undefined ? { depth: other.depth, source: other.holders.find((s) => s !== exclude), checkpoint: undefined } : undefined, heldDepth };
      }
      return { reuse: depth > 0 ? { depth, source: match.heldBy, checkpoint: undefined } : undefined, heldDepth };
    }
    for (const candidate of match.candidates) {
      const live = candidate.ends.find((slot) => slot !== exclude && this.phase[slot] !== "empty" && this.pool.usage(slot).written === candidate.depth);
      if (live !== undefined) return { reuse: { depth: candidate.depth, source: live, checkpoint: undefined }, heldDepth };
      if (candidate.checkpoint !== undefined) {
        if (!this.hasAttention) return { reuse: { depth: candidate.depth, source: undefined, checkpoint: candidate.checkpoint }, heldDepth };
        // Prefer an idle holder (it can be reused in place) over one serving a request.
        const holders = candidate.holders.filter((slot) => slot !== exclude);
        const holder = holders.find((slot) => this.phase[slot] === "idle") ?? holders[0];
        if (holder !== undefined) return { reuse: { depth: candidate.depth, source: holder, checkpoint: candidate.checkpoint }, heldDepth };
      }
    }
    return { reuse: undefined, heldDepth };
  }

  /** A request still prefilling a prefix this prompt shares, far enough past what the cache already offers. */
  private prefillingLeader(prompt: Int32Array, limit: number, reused: number): { leader: number; depth: number } | undefined {
    let best: { leader: number; depth: number } | undefined;
    this.prompts.forEach((other, slot) => {
      if (other === undefined) return;
      let shared = 0;
      const n = Math.min(limit, other.length);
      while (shared < n && other[shared] === prompt[shared]) shared++;
      if (shared - reused >= this.minBranchTokens && this.pool.usage(slot).written < shared && shared > (best?.depth ?? 0)) best = { leader: slot, depth: shared };
    });
    return best;
  }

  /**
   * Registers `tokens[0, depth)` as held by `slot` and stores a checkpoint of its recurrent state there: read from
   * the slot, or `saved` (a checkpoint from a session file).
   */
  private capture(slot: number, tokens: ArrayLike<number>, depth: number, saved?: Uint8Array): void {
    this.dropCheckpoints(this.index.hold(slot, tokens, depth));
    if (!this.hasRecurrent || this.store.budgetBytes === 0 || this.index.hasCheckpointAt(tokens, depth)) return;
    const above = this.index.match(tokens, depth - 1).candidates.find((c) => c.checkpoint !== undefined)?.depth ?? 0;
    const marginal = depth - above;
    if (this.checkpointBytes !== undefined && !this.store.wouldAdmit(this.checkpointBytes, marginal)) return;
    const state = saved ?? this.context.getState(slot, { partial: true });
    this.checkpointBytes = state.length;
    const added = this.store.add(state, marginal);
    if (added === undefined) return;
    for (const id of added.evicted) this.index.detachCheckpoint(id);
    const replaced = this.index.attachCheckpoint(tokens, depth, added.id);
    if (replaced !== undefined) this.store.delete(replaced);
  }

  /** Clears a slot: its sequence in the context, its cells, its registered prefix and orphaned checkpoints. */
  private drop(slot: number): void {
    try {
      this.context.seqRemove(slot);
    } catch {
      // The context is gone (disposed, crashed): nothing left to clear there.
    }
    this.pool.release(slot);
    this.dropCheckpoints(this.index.release(slot));
    this.phase[slot] = "empty";
    this.prompts[slot] = undefined;
    this.splitPoints[slot] = new Set();
    this.pendingCaptures.delete(slot);
  }

  private dropCheckpoints(ids: readonly number[]): void {
    for (const id of ids) this.store.delete(id);
  }

  /** Idle slots, least recently used first. */
  private idleByAge(): number[] {
    return this.phase.flatMap((p, slot) => (p === "idle" ? [slot] : [])).sort((a, b) => this.lastUsed[a]! - this.lastUsed[b]!);
  }
}
