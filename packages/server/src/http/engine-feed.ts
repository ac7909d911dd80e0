import type { Engine, EngineStats } from "@hybrid-llm/core";

/** What one slot is doing, as the live view draws it. */
export interface SlotView {
  readonly slot: number;
  /**
   * `prefill`: evaluating its prompt (`prefilled` of `promptTokens`, `cachedTokens` of them taken from the cache);
   * `decode`: generating (`generated` so far); `cached`: idle, holding a finished request's `tokens` for reuse;
   * `empty`: nothing.
   */
  readonly phase: "empty" | "cached" | "prefill" | "decode";
  readonly requestId?: number;
  readonly promptTokens?: number;
  readonly cachedTokens?: number;
  readonly prefilled?: number;
  readonly generated?: number;
  /** Tokens the slot's sequence holds (a cached slot's prefix). */
  readonly tokens: number;
}

/** One frame of the engine's live view (`GET /v1/engine/events`, event `snapshot`). */
export interface EngineSnapshot {
  /** Milliseconds since the Unix epoch. */
  readonly time: number;
  readonly state: EngineStats["state"];
  readonly slots: readonly SlotView[];
  /**
   * The shared attention pool in cells: `requests` held by running requests (reserved up to what they may still
   * need), `cached` held only by cached prefixes (evictable), `free`, and `used` (cells written, a shared cell
   * counted once per sequence that reads it).
   */
  readonly pool: { readonly cells: number; readonly requests: number; readonly cached: number; readonly free: number; readonly used: number };
  /** Recurrent checkpoints and the prefix cache's hits (admissions that resumed from a cached prefix). */
  readonly cache: {
    readonly checkpoints: number;
    readonly checkpointBytes: number;
    readonly checkpointBudgetBytes: number;
    readonly checkpointEvictions: number;
    readonly hits: number;
    readonly misses: number;
    readonly tokensReused: number;
    readonly prefixEvictions: number;
  };
  /** Requests waiting for a slot, of which `preempted` wait to resume. */
  readonly queue: { readonly depth: number; readonly preempted: number };
  /** Tokens per second since the previous snapshot: generated, and prompt tokens evaluated (cache hits excluded). */
  readonly tokensPerSecond: { readonly generated: number; readonly prompt: number };
  /** Totals since the engine started. */
  readonly totals: { readonly tokensGenerated: number; readonly promptTokensEvaluated: number; readonly swaps: number; readonly recomputes: number; readonly restarts: number };
}

/** A change seen between two snapshots (`GET /v1/engine/events`, event `engine`). */
export type EngineEvent =
  | { readonly type: "admitted"; readonly requestId: number; readonly slot: number; readonly promptTokens: number; readonly cachedTokens: number }
  /** `generatedSeen`: tokens it had generated at the previous snapshot (it may have generated more before leaving). */
  | { readonly type: "left"; readonly requestId: number; readonly slot: number; readonly generatedSeen: number }
  | { readonly type: "preempted"; readonly swaps: number; readonly recomputes: number }
  | { readonly type: "checkpoints-evicted"; readonly count: number }
  | { readonly type: "state"; readonly state: EngineStats["state"] };

/**
 * Samples an engine's public numbers ({@link Engine.stats}, {@link Engine.slots}) into snapshots for the live view,
 * with the rates and events computed against the previous sample. Read-only: one per subscriber, nothing held in
 * the engine.
 */
export class EngineFeed {
  private previous: { stats: EngineStats; at: number } | undefined;

  constructor(
    private readonly engine: Pick<Engine, "stats" | "slots">,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The engine now, and what changed since the previous call (nothing on the first). */
  sample(): { snapshot: EngineSnapshot; events: EngineEvent[] } {
    const stats = this.engine.stats();
    const at = this.now();
    const previous = this.previous;
    this.previous = { stats, at };
    const seconds = previous === undefined ? 0 : (at - previous.at) / 1000;
    const rate = (now: number, before: number | undefined) => (seconds > 0 && before !== undefined ? Math.max(0, now - before) / seconds : 0);
    const snapshot: EngineSnapshot = {
      time: Date.now(),
      state: stats.state,
      slots: slotViews(stats, this.engine.slots()),
      pool: {
        cells: stats.poolCells,
        requests: stats.poolCellsReserved - stats.poolCellsCached,
        cached: stats.poolCellsCached,
        free: stats.poolCells - stats.poolCellsReserved,
        used: stats.poolCellsUsed,
      },
      cache: {
        checkpoints: stats.cache.checkpoints,
        checkpointBytes: stats.cache.checkpointBytes,
        checkpointBudgetBytes: stats.cache.checkpointBudgetBytes,
        checkpointEvictions: stats.cache.checkpointEvictions,
        hits: stats.cache.hits,
        misses: stats.cache.misses,
        tokensReused: stats.cache.tokensReused,
        prefixEvictions: stats.cache.prefixEvictions,
      },
      queue: { depth: stats.queueDepth, preempted: stats.preemption.waiting },
      tokensPerSecond: {
        generated: rate(stats.tokensGenerated, previous?.stats.tokensGenerated),
        prompt: rate(stats.promptTokensEvaluated, previous?.stats.promptTokensEvaluated),
      },
      totals: {
        tokensGenerated: stats.tokensGenerated,
        promptTokensEvaluated: stats.promptTokensEvaluated,
        swaps: stats.preemption.swaps,
        recomputes: stats.preemption.recomputes,
        restarts: stats.restarts,
      },
    };
    return { snapshot, events: previous === undefined ? [] : changes(previous.stats, stats) };
  }
}

function slotViews(stats: EngineStats, slots: ReturnType<Engine["slots"]>): SlotView[] {
  const running = new Map(stats.active.map((request) => [request.slot, request]));
  return slots.map(({ slot, phase, tokens }) => {
    const request = running.get(slot);
    if (request !== undefined) {
      return {
        slot,
        phase: request.state,
        requestId: request.requestId,
        promptTokens: request.promptTokens,
        cachedTokens: request.cachedTokens,
        prefilled: request.prefilled,
        generated: request.generated,
        tokens,
      };
    }
    return { slot, phase: phase === "idle" ? "cached" : "empty", tokens };
  });
}

/** Requests that arrived in or left a slot, preemptions, checkpoint evictions and state changes between two samples. */
function changes(before: EngineStats, now: EngineStats): EngineEvent[] {
  const events: EngineEvent[] = [];
  if (now.state !== before.state) events.push({ type: "state", state: now.state });
  const earlier = new Map(before.active.map((request) => [request.requestId, request]));
  const current = new Set(now.active.map((request) => request.requestId));
  for (const request of before.active) {
    if (!current.has(request.requestId)) events.push({ type: "left", requestId: request.requestId, slot: request.slot, generatedSeen: request.generated });
  }
  for (const request of now.active) {
    if (!earlier.has(request.requestId)) {
      events.push({ type: "admitted", requestId: request.requestId, slot: request.slot, promptTokens: request.promptTokens, cachedTokens: request.cachedTokens });
    }
  }
  const swaps = now.preemption.swaps - before.preemption.swaps;
  const recomputes = now.preemption.recomputes - before.preemption.recomputes;
  if (swaps > 0 || recomputes > 0) events.push({ type: "preempted", swaps, recomputes });
  const evicted = now.cache.checkpointEvictions - before.cache.checkpointEvictions;
  if (evicted > 0) events.push({ type: "checkpoints-evicted", count: evicted });
  return events;
}
