import type { BackendContext } from "../backend/backend-context.js";
import type { BackendModel } from "../backend/backend-model.js";
import type { DecodeBatch, DecodeResult } from "../backend/decode-batch.js";
import { type CacheStats, CacheCoordinator, type PrefixCacheOptions, type SwappedSequence } from "../cache/cache-coordinator.js";
import { checkpointBytes } from "../cache/checkpoint-store.js";
import { shareAttentionCells } from "../cache/shared-cells.js";
import { type SessionGeometry, decodeSession, encodeSession } from "../cache/session-file.js";
import { InvalidSessionError } from "../errors/invalid-session-error.js";
import { type PreemptionSetting, PreemptionCosts, choosePreemption, chooseVictim } from "../cache/preemption-policy.js";
import { planMemory } from "../plan/memory-plan.js";
import { BackendError } from "../errors/backend-error.js";
import { ContextOverflowError } from "../errors/context-overflow-error.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import { QueueFullError } from "../errors/queue-full-error.js";
import { Channel } from "./channel.js";
import { type GenerateRequest, validateRequest } from "./generate-request.js";
import { RequestSampler } from "./request-sampler.js";
import { resolveLogprobs, resolveSampling } from "./sampling-options.js";
import type { FinishReason, StreamPart, Usage } from "./stream-part.js";
import { TextOutput } from "./text-output.js";

/** Options of {@link Engine}. */
export interface EngineOptions {
  /** The model. */
  readonly model: BackendModel;
  /** A context of that model; its `slots` and `nCtx` bound concurrency and the shared KV pool. */
  readonly context: BackendContext;
  /** Requests allowed to wait (beyond the free slots); one more is refused with QueueFullError. Defaults to 64. */
  readonly maxQueue?: number;
  /** `maxTokens` of requests that give none. Defaults to 256. */
  readonly defaultMaxTokens?: number;
  /** The prefix cache (reuse of cached prompt prefixes, recurrent checkpoints); `false` turns it off. Defaults to on. */
  readonly prefixCache?: PrefixCacheOptions | false;
  /** How requests claim KV cells, and what happens when the pool runs out. */
  readonly admission?: AdmissionOptions;
  /**
   * Reopens the backend after it crashed (a BackendError with code `crashed`: a trap in the Wasm module, a worker
   * that stopped): return a new model and context, freeing the dead ones. The requests running at the crash fail
   * with that error; queued ones wait and then run on the new context. Without it, a crash fails everything in
   * flight and every later `generate` throws the crash.
   */
  readonly reopen?: (crash: BackendError) => Promise<{ readonly model: BackendModel; readonly context: BackendContext }>;
}

/** Options of {@link EngineOptions.admission}. */
export interface AdmissionOptions {
  /**
   * `on-demand` (default): a request is admitted with its prompt plus `headroomTokens` of KV cells and claims more as
   * it generates; when the pool runs dry, cached prefixes go first, then the latest-arriving request is preempted
   * (and resumed, with identical output, before any newer request starts). `worst-case`: a request reserves its
   * prompt plus its whole `maxTokens` when admitted, so nothing is ever preempted — and most of those cells are
   * usually never written.
   */
  readonly reserve?: "on-demand" | "worst-case";
  /** Cells claimed at a time beyond what a request has written (on-demand). Defaults to 32. */
  readonly headroomTokens?: number;
  /**
   * How a preempted request is set aside: `swap` (its whole state to host memory), `recompute` (dropped, re-prefilled
   * from the best cached prefix), or `auto` (default): the cheaper by the rates measured while serving.
   */
  readonly preemption?: PreemptionSetting;
  /** Host memory for swapped-out requests, in bytes; a state that does not fit is recomputed. Defaults to 1 GiB. */
  readonly swapBudgetBytes?: number;
}

/** Preemption counters and the swap space in use. */
export interface PreemptionStats {
  readonly swaps: number;
  readonly recomputes: number;
  /** Requests waiting, preempted, to resume. */
  readonly waiting: number;
  readonly swapBytes: number;
  readonly swapBudgetBytes: number;
  /** Tokens evaluated again by recomputes. */
  readonly tokensRecomputed: number;
}

/** Whether the engine serves, is reopening its backend after a crash, or is out of service (a crash it could not recover from). */
export type EngineState = "running" | "restarting" | "failed";

/** What {@link Engine.complete} returns. */
export interface Completion {
  readonly tokens: number[];
  readonly text: string;
  readonly reason: FinishReason;
  readonly usage: Usage;
  /** Set when the request failed. */
  readonly error?: Error;
}

/** Live numbers of an engine (for /metrics and /slots). */
export interface EngineStats {
  readonly slots: number;
  /** Slots serving a request. */
  readonly slotsBusy: number;
  /** Slots holding a finished request's cells for reuse (the prefix cache). */
  readonly slotsCached: number;
  readonly poolCells: number;
  /** Cells held: by requests (reserved up to their maximum) and by the prefix cache. */
  readonly poolCellsReserved: number;
  /** Of those, cells only the prefix cache holds (evictable at any time). */
  readonly poolCellsCached: number;
  readonly poolCellsUsed: number;
  readonly queueDepth: number;
  readonly state: EngineState;
  /** Times the backend was reopened after a crash. */
  readonly restarts: number;
  /** Prompt tokens really evaluated (cache hits excluded). */
  readonly promptTokensEvaluated: number;
  readonly tokensGenerated: number;
  readonly steps: number;
  /** Milliseconds spent in steps, and the part of it spent waiting for the backend's decode. */
  readonly stepMs: number;
  readonly decodeMs: number;
  /** Milliseconds the decode in flight has been running (0 when none): a stalled backend shows here. */
  readonly decodeInFlightMs: number;
  /** The prefix cache: hits, tokens reused and lost, checkpoints. */
  readonly cache: CacheStats;
  /** Preemption (on-demand admission): swaps, recomputes, swap space. */
  readonly preemption: PreemptionStats;
  /** Most requests that were running at once. */
  readonly peakActive: number;
  readonly active: readonly {
    readonly requestId: number;
    readonly slot: number;
    readonly state: "prefill" | "decode";
    readonly promptTokens: number;
    readonly cachedTokens: number;
    readonly prefilled: number;
    readonly generated: number;
  }[];
}

interface Active {
  readonly id: number;
  readonly request: GenerateRequest;
  readonly channel: Channel<StreamPart>;
  slot: number;
  readonly maxTokens: number;
  /** What the prefill evaluates: the prompt; after a recompute, the prompt and the tokens generated before it. */
  prefillTokens: Int32Array;
  readonly sampling: RequestSampler;
  readonly text: TextOutput;
  readonly stopTokens: ReadonlySet<number>;
  readonly cachedTokens: number;
  prefilled: number;
  generated: number[];
  pending: number | undefined;
  cancelled: boolean;
  finished: boolean;
  reason: FinishReason | undefined;
  detach: () => void;
}

/** One token of a step's batch: a generating request's next token, or a prompt token being prefilled. */
interface StepRow {
  readonly active: Active;
  readonly token: number;
  readonly position: number;
  readonly output: boolean;
  readonly prefill: boolean;
}

interface Queued {
  readonly id: number;
  readonly request: GenerateRequest;
  readonly sampling: RequestSampler;
  readonly channel: Channel<StreamPart>;
  /** Cells to reserve at admission. */
  readonly cells: number;
  readonly maxTokens: number;
  detach: () => void;
  /** A preempted request waiting to resume: its running state, and its sequence state when it was swapped out. */
  readonly preempted?: { readonly active: Active; readonly swapped: SwappedSequence | undefined };
}

const noUsage: Usage = { promptTokens: 0, completionTokens: 0, cachedPromptTokens: 0 };

/**
 * The scheduler: continuous batching of many requests on one context. Every step is one batch holding one decode
 * token per generating request plus prefill chunks of waiting prompts up to the context's batch size, so a long
 * prompt never stalls the others. A request is admitted when a slot is free and the shared KV pool has room for its
 * prompt plus a headroom (on-demand; or its whole maximum output with `reserve: "worst-case"`); otherwise it waits
 * in a bounded queue (first come, first served). Running requests claim cells as they generate; when the pool runs
 * dry the latest arrival is preempted (swapped or recomputed, see `cache/preemption-policy.ts`) and resumes first.
 *
 * The cache decisions — which slot, which cached prefix to resume from, which cached prefixes to drop, where to
 * capture checkpoints — are the {@link CacheCoordinator}'s; the engine asks and carries them out between steps.
 *
 * @example Several requests at once on one context, streamed
 * ```ts
 * import { Engine, buildFixture } from "@hybrid-llm/core";
 * import { NodeBackend } from "@hybrid-llm/node";
 *
 * const backend = await NodeBackend.create();
 * const model = await backend.loadModel({ bytes: buildFixture("tiny") }); // or { path: "model.gguf" }
 * const context = await model.createContext({ ctx: 8192, slots: 8 });   // one shared KV pool, 8 recurrent slots
 * const engine = new Engine({ model, context });
 * const answers = await Promise.all(["Hello", "Bonjour", "Hallo"].map(async (text) => {
 *   let answer = "";
 *   for await (const part of engine.generate({ prompt: model.tokenize(text), maxTokens: 32 })) {
 *     if (part.type === "text-delta") answer += part.text;
 *   }
 *   return answer;
 * }));
 * await engine.dispose();
 * await backend.dispose();
 * ```
 */
export class Engine {
  private currentModel: BackendModel;
  private context: BackendContext;
  private cache: CacheCoordinator;
  private readonly prefixCache: PrefixCacheOptions | false | undefined;
  private readonly reopen: EngineOptions["reopen"];
  private readonly maxQueue: number;
  private readonly reserveMode: "on-demand" | "worst-case";
  private readonly headroom: number;
  private readonly preemption: PreemptionSetting;
  private readonly swapBudgetBytes: number;
  private readonly costs = new PreemptionCosts();
  private swapBytes = 0;
  private peakActive = 0;
  private preemptionCounters = { swaps: 0, recomputes: 0, tokensRecomputed: 0 };
  /** A sequence's whole state: bytes per attention cell and the recurrent part, from the plan of this context. */
  private stateSize = { perCell: 0, recurrent: 0 };
  private readonly defaultMaxTokens: number;
  private readonly queue: Queued[] = [];
  private readonly active = new Map<number, Active>();
  private endTokens: ReadonlySet<number>;
  private nextId = 1;
  private running: Promise<void> | undefined;
  private stepping = false;
  private disposed = false;
  private clearRequested = false;
  /** A crash seen since the last loop turn (recovered from at the top of the next). */
  private crash: BackendError | undefined;
  /** The crash that put the engine out of service (no reopen, or reopening failed). */
  private failure: Error | undefined;
  private restarting = false;
  /** Callers waiting for the step in flight to end (session save / restore touch the context between steps). */
  private stepWaiters: (() => void)[] = [];
  private restarts = 0;
  private decodeStartedAt: number | undefined;
  /** Samplers of requests that ended during a step: freed when it ends (the backend is busy until then). */
  private samplersToClose: RequestSampler[] = [];
  private counters = { promptTokensEvaluated: 0, tokensGenerated: 0, steps: 0, stepMs: 0, decodeMs: 0 };

  constructor(options: EngineOptions) {
    this.currentModel = options.model;
    this.context = options.context;
    this.prefixCache = options.prefixCache;
    this.reopen = options.reopen;
    if (this.reopen !== undefined && typeof this.reopen !== "function") throw new InvalidArgumentError({ argument: "reopen", message: `reopen must be a function, got ${typeof this.reopen}` });
    this.maxQueue = options.maxQueue ?? 64;
    if (!Number.isInteger(this.maxQueue) || this.maxQueue < 0) throw new InvalidArgumentError({ argument: "maxQueue", message: `maxQueue must be a non-negative integer, got ${options.maxQueue}` });
    this.defaultMaxTokens = options.defaultMaxTokens ?? 256;
    const admission = options.admission ?? {};
    this.reserveMode = admission.reserve ?? "on-demand";
    this.headroom = admission.headroomTokens ?? 32;
    this.preemption = admission.preemption ?? "auto";
    this.swapBudgetBytes = admission.swapBudgetBytes ?? 1024 ** 3;
    if (this.reserveMode !== "on-demand" && this.reserveMode !== "worst-case") throw new InvalidArgumentError({ argument: "admission.reserve", message: `admission.reserve must be "on-demand" or "worst-case", got ${String(admission.reserve)}` });
    if (!Number.isInteger(this.headroom) || this.headroom < 1) throw new InvalidArgumentError({ argument: "admission.headroomTokens", message: `admission.headroomTokens must be a positive integer, got ${admission.headroomTokens}` });
    if (!["auto", "swap", "recompute"].includes(this.preemption)) throw new InvalidArgumentError({ argument: "admission.preemption", message: `admission.preemption must be "auto", "swap" or "recompute", got ${String(admission.preemption)}` });
    if (!(this.swapBudgetBytes >= 0) || !Number.isFinite(this.swapBudgetBytes)) throw new InvalidArgumentError({ argument: "admission.swapBudgetBytes", message: `admission.swapBudgetBytes must be a non-negative number, got ${admission.swapBudgetBytes}` });
    this.cache = this.coordinator();
    this.endTokens = new Set(options.model.info.endOfGenerationTokens);
  }

  /** The model served (after a backend restart, the reopened one): tokenize and render prompts with it. */
  get model(): BackendModel {
    return this.currentModel;
  }

  private coordinator(): CacheCoordinator {
    const info = this.context.info;
    const spec = this.currentModel.info.cacheSpec;
    try {
      const plan = planMemory(spec, { ctx: info.nCtx, slots: info.slots, unified: info.unified, kvTypeK: info.kvTypeK, kvTypeV: info.kvTypeV });
      this.stateSize = { perCell: plan.attentionKvBytes / plan.nCtx, recurrent: plan.recurrentStateBytes / info.slots };
    } catch {
      this.stateSize = { perCell: 0, recurrent: 0 }; // a geometry the planner refuses: swaps are sized when read
    }
    const bytes = checkpointBytes(spec);
    const prefixCache = this.prefixCache;
    return new CacheCoordinator({
      context: this.context,
      capacity: info.nCtx,
      perSequenceLimit: info.cellsPerStream,
      slots: info.slots,
      unified: info.unified,
      // False also for a sliding-window model on a window-sized SWA cache: it resumes from checkpoints alone.
      hasAttention: shareAttentionCells(spec, info),
      hasRecurrent: spec.recurrent !== null,
      ...(bytes !== undefined ? { checkpointBytes: bytes } : {}),
      prefixCache: prefixCache === false ? { enabled: false } : (prefixCache ?? {}),
    });
  }

  /**
   * Submits a request. Throws, before any work, InvalidArgumentError for a malformed request,
   * ContextOverflowError when the prompt cannot fit one sequence and QueueFullError when the queue is full;
   * everything after arrives as stream parts. Leaving the iteration early (`break`) cancels the request.
   *
   * @example
   * ```ts
   * for await (const part of engine.generate({ prompt: model.tokenize("Hello"), maxTokens: 64, temperature: 0.7, stop: ["\n\n"] })) {
   *   if (part.type === "start") console.log(`${part.cachedTokens} prompt tokens from the cache`);
   *   if (part.type === "text-delta") process.stdout.write(part.text);
   *   if (part.type === "finish") console.log(part.reason, part.usage);
   * }
   * ```
   */
  generate(request: GenerateRequest): AsyncIterable<StreamPart> {
    if (this.disposed) throw new InvalidArgumentError({ argument: "engine", message: "the engine was disposed" });
    if (this.failure !== undefined) throw this.failure;
    const { prompt, maxTokens } = validateRequest(request, { vocabSize: this.currentModel.info.vocabSize, slots: this.cache.slots, defaultMaxTokens: this.defaultMaxTokens });
    // The sampling options are checked now, not mid-stream; the grammar is parsed by llama.cpp once here.
    const sampling = new RequestSampler(resolveSampling(request, { vocabSize: this.currentModel.info.vocabSize, maxTokens }), resolveLogprobs(request.logprobs));
    if (request.grammar !== undefined) {
      const reason = this.currentModel.grammarError(request.grammar);
      if (reason !== null) throw new InvalidArgumentError({ argument: "grammar", message: `the grammar does not parse: ${reason}` });
    }
    const limit = this.sequenceLimit;
    // The prompt plus at least one generated token must fit one sequence.
    if (prompt.length + 1 > limit) throw new ContextOverflowError({ needed: prompt.length + 1, available: limit });
    // Only requests that will really wait count against the queue limit, not those a free slot will take at once.
    if (this.queue.length + 1 - this.cache.freeSlots > this.maxQueue) throw new QueueFullError({ limit: this.maxQueue });

    const entry: Queued = {
      id: this.nextId++,
      request,
      sampling,
      channel: new Channel<StreamPart>(() => this.cancel(entry)),
      cells: Math.min(prompt.length + (this.reserveMode === "worst-case" ? maxTokens : Math.min(maxTokens, this.headroom)), limit),
      maxTokens,
      detach: () => {},
    };
    if (request.signal?.aborted) {
      entry.channel.push({ type: "finish", reason: "cancelled", usage: noUsage, text: "" });
      entry.channel.close();
      return entry.channel;
    }
    const onAbort = () => this.cancel(entry);
    request.signal?.addEventListener("abort", onAbort, { once: true });
    entry.detach = () => request.signal?.removeEventListener("abort", onAbort);
    this.queue.push(entry);
    this.kick();
    return entry.channel;
  }

  /** {@link generate}, collected. */
  async complete(request: GenerateRequest): Promise<Completion> {
    const tokens: number[] = [];
    let error: Error | undefined;
    for await (const part of this.generate(request)) {
      if (part.type === "token") tokens.push(part.token);
      if (part.type === "error") error = part.error;
      if (part.type === "finish") return { tokens, text: part.text, reason: part.reason, usage: part.usage, ...(error ? { error } : {}) };
    }
    throw new Error("unreachable: a stream always ends with finish");
  }

  /** Live numbers. */
  stats(): EngineStats {
    const cache = this.cache.stats();
    return {
      slots: this.cache.slots,
      slotsBusy: cache.slotsActive,
      slotsCached: cache.slotsCached,
      poolCells: this.cache.pool.capacity,
      poolCellsReserved: this.cache.pool.reservedCells,
      poolCellsCached: cache.cachedCells,
      poolCellsUsed: this.cache.pool.usedCells,
      queueDepth: this.queue.length,
      state: this.failure !== undefined ? "failed" : this.restarting ? "restarting" : "running",
      restarts: this.restarts,
      ...this.counters,
      decodeInFlightMs: this.stepping && this.decodeStartedAt !== undefined ? performance.now() - this.decodeStartedAt : 0,
      cache,
      preemption: {
        ...this.preemptionCounters,
        waiting: this.queue.filter((q) => q.preempted !== undefined).length,
        swapBytes: this.swapBytes,
        swapBudgetBytes: this.swapBudgetBytes,
      },
      peakActive: this.peakActive,
      active: [...this.active.values()].map((a) => ({
        requestId: a.id,
        slot: a.slot,
        state: a.prefilled < a.prefillTokens.length ? ("prefill" as const) : ("decode" as const),
        promptTokens: a.request.prompt.length,
        cachedTokens: a.cachedTokens,
        prefilled: a.prefilled,
        generated: a.generated.length,
      })),
    };
  }

  /** Most tokens one request can hold, prompt and output together (a sequence's share of the KV cache). */
  get sequenceLimit(): number {
    return Math.min(this.cache.pool.perSequenceLimit, this.cache.pool.capacity);
  }

  /** What each slot holds: serving a request, cached prefix tokens, or nothing. */
  slots(): { slot: number; phase: "empty" | "active" | "idle"; tokens: number }[] {
    return this.cache.slotPhases().map((phase, slot) => ({ slot, phase, tokens: this.cache.cachedTokens(slot) }));
  }

  /** Resolves when every submitted request has finished. */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /**
   * Saves the cached state of a conversation: `tokens` is the conversation so far (the prompt of its last request
   * and the answer). The idle slot caching the longest prefix of it is saved whole — its tokens, the attention cells
   * and recurrent state at their end, the checkpoints along them — with the model's identity, the cache geometry
   * and a checksum ({@link restoreSession} checks them all). `metadata` (JSON) travels with it.
   *
   * @throws InvalidArgumentError when nothing of this conversation is cached (it never ran here, or was evicted).
   */
  async saveSession(tokens: ArrayLike<number>, options: { metadata?: unknown } = {}): Promise<Uint8Array> {
    if (this.disposed) throw new InvalidArgumentError({ argument: "engine", message: "the engine was disposed" });
    if (this.failure !== undefined) throw this.failure;
    const sequence = validateTokens(tokens, this.currentModel.info.vocabSize);
    const { source, state } = await this.betweenSteps(() => {
      const found = this.cache.sessionSource(sequence);
      if (found === undefined) throw new InvalidArgumentError({ argument: "tokens", message: "nothing of this conversation is cached (it has not run on this engine, or its cache was evicted)" });
      return { source: found, state: this.context.getState(found.slot) };
    });
    return encodeSession({
      modelIdentity: this.currentModel.info.identity,
      geometry: this.geometry(),
      tokens: sequence.slice(0, source.depth),
      state,
      checkpoints: source.checkpoints,
      metadata: options.metadata ?? null,
    });
  }

  /**
   * Restores a session saved by {@link saveSession} (in this process or another) as a cached prefix: the next
   * request that extends its tokens resumes where it ended, as if it had just run here. Everything is checked
   * before anything is loaded. Returns the tokens restored and the saved metadata.
   *
   * @throws InvalidSessionError for a damaged or truncated file, another format version, another model, another
   *   cache geometry or more tokens than a sequence holds; BackendError `busy` when every slot serves a request.
   */
  async restoreSession(bytes: Uint8Array): Promise<{ tokens: Int32Array; metadata: unknown }> {
    if (this.disposed) throw new InvalidArgumentError({ argument: "engine", message: "the engine was disposed" });
    if (this.failure !== undefined) throw this.failure;
    if (this.prefixCache === false || this.prefixCache?.enabled === false) {
      throw new InvalidArgumentError({ argument: "engine", message: "the prefix cache is off: a restored session could never be resumed from" });
    }
    const session = decodeSession(bytes, {
      modelIdentity: this.currentModel.info.identity,
      geometry: this.geometry(),
      maxTokens: this.sequenceLimit,
      vocabSize: this.currentModel.info.vocabSize,
    });
    if (session.tokens.length === 0) throw new InvalidSessionError({ reason: "corrupt", message: "the session holds no tokens" });
    await this.betweenSteps(() => {
      const decision = this.cache.plan(session.tokens, session.tokens.length, [], undefined, { restore: true, keepFree: this.growthReserve() });
      if (decision.type !== "admit") throw new BackendError({ code: "busy", message: "no slot or room is free for the session now (every slot serves a request); retry when one finishes" });
      this.cache.restoreIdle(decision, session.tokens, session.state, session.checkpoints.filter((c) => c.depth > 0));
    });
    return { tokens: session.tokens, metadata: session.metadata };
  }

  private geometry(): SessionGeometry {
    const spec = this.currentModel.info.cacheSpec;
    return {
      architecture: spec.architecture,
      kvTypeK: this.context.info.kvTypeK,
      kvTypeV: this.context.info.kvTypeV,
      attentionLayers: spec.attention.layers.length,
      recurrentLayers: spec.recurrent?.layers.length ?? 0,
    };
  }

  /** Runs `work` (synchronous context operations) once no step is in flight, in the same turn as that check. */
  private async betweenSteps<T>(work: () => T): Promise<T> {
    while (this.stepping) await new Promise<void>((resolve) => this.stepWaiters.push(resolve));
    return work();
  }

  private endStep(): void {
    this.stepping = false;
    for (const sampling of this.samplersToClose.splice(0)) sampling.close();
    for (const wake of this.stepWaiters.splice(0)) wake();
  }

  /** Drops every cached prefix and checkpoint (between steps); requests in flight are untouched. */
  clearCache(): void {
    if (this.stepping) this.clearRequested = true;
    else this.cache.clearCached();
  }

  /** Cancels everything, drops the cache and stops. The context and model stay the caller's. */
  async dispose(): Promise<void> {
    this.disposed = true;
    for (const entry of [...this.queue]) this.cancel(entry);
    for (const active of this.active.values()) active.cancelled = true;
    if (!this.stepping) this.releaseFinished();
    await this.idle();
    if (this.failure === undefined) this.cache.clearCached();
  }

  private kick(): void {
    this.running ??= this.loop().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0 && !this.disposed) this.kick();
    });
  }

  /** Cancels a request wherever it is: queued (ends now) or active (freed now, or right after the step in flight). */
  private cancel(entry: Queued): void {
    const index = this.queue.findIndex((q) => q.id === entry.id);
    if (index !== -1) {
      const [queued] = this.queue.splice(index, 1);
      if (queued!.preempted !== undefined) {
        this.swapBytes -= queued!.preempted.swapped?.state.length ?? 0;
        this.finish(queued!.preempted.active, "cancelled");
        return;
      }
      entry.detach();
      entry.channel.push({ type: "finish", reason: "cancelled", usage: noUsage, text: "" });
      entry.channel.close();
      return;
    }
    const active = [...this.active.values()].find((a) => a.id === entry.id);
    if (active !== undefined) {
      active.cancelled = true;
      // Between steps the context is free: release now. During a step, right after it.
      if (!this.stepping) this.releaseFinished();
    }
  }

  /**
   * Admits queued requests in order while the cache has a slot and room. A request that shares a long prefix with
   * one still prefilling waits for it (then reuses its cells) and lets the ones behind it go first. An admission
   * that fails fails that request alone.
   */
  private admit(): void {
    for (let i = 0; i < this.queue.length; ) {
      const entry = this.queue[i]!;
      if (entry.preempted !== undefined) {
        if (!this.resume(entry, i)) return;
        continue;
      }
      const prompt = entry.request.prompt;
      const decision = this.cache.plan(prompt, entry.cells, entry.request.checkpointAt, entry.request.slot, { keepFree: this.growthReserve() });
      if (decision.type === "wait") return;
      if (decision.type === "wait-for-prefix") {
        this.cache.addSplit(decision.leader, decision.depth);
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      let text: TextOutput;
      try {
        text = new TextOutput(entry.request.stop ?? []); // (before the cache takes the slot: a throw fails this request alone)
        entry.sampling.open(this.context);
        this.cache.admit(decision, prompt);
      } catch (error) {
        // A crashed backend is not this request's fault: it stays first in line for the reopened one.
        if (this.noteCrash(error)) {
          this.queue.splice(i, 0, entry);
          return;
        }
        this.failQueued(entry, error as Error);
        continue;
      }
      const cachedTokens = decision.reuse?.depth ?? 0;
      const active: Active = {
        id: entry.id,
        request: entry.request,
        channel: entry.channel,
        slot: decision.slot,
        maxTokens: Math.min(entry.maxTokens, this.sequenceLimit - prompt.length),
        prefillTokens: prompt,
        sampling: entry.sampling,
        text,
        stopTokens: new Set(entry.request.stopTokens ?? []),
        cachedTokens,
        prefilled: cachedTokens,
        generated: [],
        pending: undefined,
        cancelled: false,
        finished: false,
        reason: undefined,
        detach: entry.detach,
      };
      this.active.set(active.slot, active);
      this.peakActive = Math.max(this.peakActive, this.active.size);
      active.channel.push({ type: "start", requestId: active.id, slot: active.slot, promptTokens: prompt.length, cachedTokens });
    }
  }

  /**
   * Cells a new admission must leave free so the running requests can each claim their next headroom (on-demand):
   * without it a newcomer would take the last cells and be preempted a step later.
   */
  private growthReserve(): number {
    if (this.reserveMode === "worst-case") return 0;
    let total = 0;
    for (const active of this.active.values()) {
      const { reserved } = this.cache.pool.usage(active.slot);
      total += Math.min(this.headroom, Math.max(0, active.request.prompt.length + active.maxTokens - reserved));
    }
    return total;
  }

  /**
   * Brings a preempted request back (queue position `index`): a swapped one into a slot with its own state restored,
   * a recomputed one re-prefilling what no cached prefix covers. Returns false when there is no room yet — it then
   * stays first in line, and nothing behind it starts before it.
   */
  private resume(entry: Queued, index: number): boolean {
    const { active, swapped } = entry.preempted!;
    // A request still prefilling (its prompt, or after a recompute its prompt and earlier output) needs cells for all of
    // it; a swapped one that was generating brings exactly its evaluated tokens' cells.
    const prefilling = active.prefilled < active.prefillTokens.length;
    const tokens = swapped !== undefined && !prefilling ? evaluatedTokens(active).subarray(0, swapped.written) : active.prefillTokens;
    const cells = Math.min(tokens.length + this.headroom, active.request.prompt.length + active.maxTokens);
    const decision = this.cache.plan(tokens, cells, [], active.request.slot, { keepFree: this.growthReserve(), restore: swapped !== undefined });
    if (decision.type !== "admit") return false;
    this.queue.splice(index, 1);
    const started = performance.now();
    try {
      active.sampling.open(this.context, active.generated); // rebuilt only after a reopen; kept otherwise
      this.cache.admit(decision, tokens, swapped);
    } catch (error) {
      if (this.noteCrash(error)) {
        this.queue.splice(index, 0, entry);
        return false;
      }
      this.swapBytes -= swapped?.state.length ?? 0;
      this.finish(active, "error", error as Error);
      return true;
    }
    if (swapped !== undefined) {
      this.costs.recordStateCopy(swapped.state.length, performance.now() - started);
      this.swapBytes -= swapped.state.length;
    } else {
      active.prefilled = decision.reuse?.depth ?? 0;
      this.preemptionCounters.tokensRecomputed += tokens.length - active.prefilled;
    }
    active.slot = decision.slot;
    this.active.set(active.slot, active);
    this.peakActive = Math.max(this.peakActive, this.active.size);
    return true;
  }

  /**
   * Before a step (on-demand): every generating request must have a cell for its next token. The oldest claim first;
   * when the pool is dry even after dropping cached prefixes, the latest arrival is preempted.
   */
  private makeRoom(): void {
    if (this.reserveMode === "worst-case") return;
    this.releaseFinished(); // cancelled requests give their cells back before anyone is preempted
    for (const active of [...this.active.values()].sort((a, b) => a.id - b.id)) {
      if (this.active.get(active.slot) !== active || active.cancelled || active.finished || active.pending === undefined) continue;
      const { reserved, written } = this.cache.pool.usage(active.slot);
      if (written < reserved) continue;
      const want = Math.min(this.headroom, active.request.prompt.length + active.maxTokens - reserved);
      while (this.active.get(active.slot) === active && !this.cache.grow(active.slot, Math.max(1, want))) {
        const victim = chooseVictim([...this.active.values()].filter((a) => !a.finished).map((a) => ({ arrival: a.id, active: a })));
        // Only this request runs and the pool still cannot hold its next token: cannot happen while admission keeps
        // every request within one sequence's limit; fail it rather than spin.
        if (victim === undefined) {
          this.finish(active, "error", new ContextOverflowError({ needed: reserved + 1, available: this.cache.pool.capacity }));
          break;
        }
        this.preempt(victim.active);
      }
    }
  }

  /** Sets a running request aside (swap or recompute, by {@link choosePreemption}) and queues it to resume first. */
  private preempt(active: Active): void {
    const slot = active.slot;
    const { written } = this.cache.pool.usage(slot);
    const tokens = evaluatedTokens(active).subarray(0, written);
    const mode = choosePreemption({
      setting: this.preemption,
      stateBytes: this.estimateStateBytes(written),
      recomputeTokens: written - this.cache.resumeDepth(tokens, slot),
      swapBytesFree: this.swapBudgetBytes - this.swapBytes,
      costs: this.costs,
    });
    let swapped: SwappedSequence | undefined;
    if (mode === "swap") {
      const started = performance.now();
      let state: Uint8Array | undefined;
      try {
        state = this.context.getState(slot);
      } catch (error) {
        if (this.noteCrash(error)) throw error;
        // The state could not be read (too large for the backend's memory, …): recompute instead.
      }
      if (state !== undefined) {
        this.costs.recordStateCopy(state.length, performance.now() - started);
        if (state.length <= this.swapBudgetBytes - this.swapBytes) {
          swapped = { state, written };
          this.swapBytes += state.length;
        }
      }
    }
    this.cache.preempt(slot);
    this.active.delete(slot);
    if (swapped !== undefined) this.preemptionCounters.swaps++;
    else {
      this.preemptionCounters.recomputes++;
      // Re-prefill the prompt and every generated token (the last one too: its logits give the next token).
      active.prefillTokens = Int32Array.from([...active.request.prompt, ...active.generated]);
      active.pending = undefined;
    }
    // Ahead of every request that arrived after it, behind preempted ones that arrived before it.
    const at = this.queue.findIndex((q) => q.preempted === undefined || q.id > active.id);
    const entry: Queued = { id: active.id, request: active.request, sampling: active.sampling, channel: active.channel, cells: 0, maxTokens: active.maxTokens, detach: active.detach, preempted: { active, swapped } };
    this.queue.splice(at === -1 ? this.queue.length : at, 0, entry);
  }

  /** Bytes of a sequence's whole state with `cells` attention cells (an estimate from the plan; for the swap choice). */
  private estimateStateBytes(cells: number): number {
    const { perCell, recurrent } = this.stateSize;
    return perCell * cells + recurrent;
  }

  /** Ends a request that never started with an error. */
  private failQueued(entry: Queued, error: Error): void {
    this.swapBytes -= entry.preempted?.swapped?.state.length ?? 0;
    this.closeSampler(entry.sampling);
    entry.detach();
    entry.channel.push({ type: "error", error });
    entry.channel.push({ type: "finish", reason: "error", usage: noUsage, text: "" });
    entry.channel.close();
  }

  private async loop(): Promise<void> {
    try {
      while (!this.disposed || this.active.size > 0) {
        if (this.crash !== undefined && !(await this.recover())) return;
        this.flushCaptures();
        if (this.clearRequested) {
          this.clearRequested = false;
          this.cache.clearCached();
        }
        this.admit();
        if (this.crash !== undefined) continue;
        this.makeRoom();
        if (this.active.size === 0) {
          // Nothing runs, so nothing will free room: what still waits can never be admitted (a bug, not a state to
          // spin in). Fail it rather than loop.
          for (const entry of this.queue.splice(0)) this.failQueued(entry, new Error("the request could not be admitted on an idle engine"));
          return;
        }
        await this.step();
      }
    } catch (error) {
      // A bug or a backend failing outside decode: end every stream with the error rather than leave them hanging.
      this.endStep();
      if (this.noteCrash(error)) {
        await this.recover();
        return;
      }
      for (const active of [...this.active.values()]) this.finish(active, "error", error as Error);
      for (const entry of this.queue.splice(0)) this.failQueued(entry, error as Error);
      this.releaseFinished();
    }
  }

  /** One batch: a decode token per generating request, then prefill chunks up to the batch size. */
  private async step(): Promise<void> {
    const started = performance.now();
    const rows: StepRow[] = [];
    for (const active of this.active.values()) {
      if (active.pending !== undefined && !active.cancelled) {
        const position = active.request.prompt.length + active.generated.length - 1;
        rows.push({ active, token: active.pending, position, output: true, prefill: false });
      }
    }
    let budget = this.context.info.batch - rows.length;
    const prefilling: Active[] = [];
    const waiting = [...this.active.values()].filter((active) => !active.cancelled && active.prefilled < active.prefillTokens.length);
    for (const active of waiting.length > 1 ? waiting.sort((a, b) => a.id - b.id) : waiting) {
      if (budget <= 0) break;
      const prompt = active.prefillTokens;
      // A chunk ends at the next checkpoint position at the latest, so the state there can be captured.
      const take = Math.min(budget, this.cache.chunkEnd(active.slot, active.prefilled, prompt.length) - active.prefilled);
      for (let i = 0; i < take; i++) {
        const position = active.prefilled + i;
        rows.push({ active, token: prompt[position]!, position, output: position === prompt.length - 1, prefill: true });
      }
      prefilling.push(active);
      budget -= take;
    }
    if (rows.length === 0) {
      this.releaseFinished();
      return;
    }
    const outputs = rows.filter((row) => row.output);
    const needsLogits = outputs.some((row) => row.active.request.returnLogits === true);
    // Sampling and log-probabilities happen in the backend: only the chosen tokens (and the few numbers asked) come back.
    const samplers = outputs.some((row) => row.active.sampling.row !== -1) ? Int32Array.from(outputs, (row) => row.active.sampling.row) : undefined;
    const logprobs = outputs.some((row) => row.active.sampling.logprobs !== -1) ? Int32Array.from(outputs, (row) => row.active.sampling.logprobs) : undefined;
    this.stepping = true;
    let result;
    const decodeStarted = performance.now();
    this.decodeStartedAt = decodeStarted;
    try {
      result = await this.context.decode(batchOf(rows), { returnLogits: needsLogits, ...(samplers ? { samplers } : {}), ...(logprobs ? { logprobs } : {}) });
    } catch (error) {
      this.endStep();
      // The batch failed as a whole: fail the requests in it (their slots are cleared), keep serving the others.
      for (const active of new Set(rows.map((r) => r.active))) this.finish(active, "error", error as Error);
      this.account(started, decodeStarted);
      if (this.noteCrash(error)) return; // the context is gone: recovery ends the rest
      this.releaseFinished();
      return;
    }
    this.endStep();
    const decodeEnded = performance.now();
    this.costs.recordPrefill(rows.length, decodeEnded - decodeStarted);

    for (const row of rows) {
      this.cache.pool.markWritten(row.active.slot, 1);
      if (row.prefill) {
        row.active.prefilled++;
        this.counters.promptTokensEvaluated++;
      }
    }
    for (const active of prefilling) this.cache.afterPrefill(active.slot, active.prefilled);
    const vocab = this.currentModel.info.vocabSize;
    result.rows.forEach((batchIndex, outputIndex) => {
      const row = rows[batchIndex]!;
      const active = row.active;
      if (active.cancelled || active.finished) return;
      const logits = active.request.returnLogits ? result.logits!.slice(outputIndex * vocab, (outputIndex + 1) * vocab) : undefined;
      const token = result.tokens?.[outputIndex] ?? result.argmax[outputIndex]!;
      if (token === -1) {
        this.finish(active, "error", new InvalidArgumentError({ argument: "grammar", message: "no token is allowed here: the grammar and the logit bias rule out every token" }));
        return;
      }
      this.accept(active, token, result.margins[outputIndex]!, logits, tokenLogprobs(result, outputIndex, active.sampling.logprobs));
    });
    this.releaseFinished();
    this.account(started, decodeStarted, decodeEnded);
  }

  /** Captures the checkpoints the last step scheduled; if the context fails there, the requests on it fail. */
  private flushCaptures(): void {
    try {
      this.cache.flushCaptures();
    } catch (error) {
      for (const active of [...this.active.values()]) this.finish(active, "error", error as Error);
      if (!this.noteCrash(error)) this.releaseFinished();
    }
  }

  /** Whether `error` says the backend crashed; if so, recovery runs before anything else touches the context. */
  private noteCrash(error: unknown): boolean {
    if (!BackendError.isInstance(error) || error.code !== "crashed") return false;
    this.crash ??= error;
    return true;
  }

  /**
   * After a crash: every request on the dead context ends with the crash (its state is gone, and so is the prefix
   * cache); then the backend is reopened and the queue goes on there. Without `reopen`, or when reopening fails,
   * the queue fails too and the engine stays out of service. Returns whether the engine serves again.
   */
  private async recover(): Promise<boolean> {
    const crash = this.crash!;
    this.crash = undefined;
    const running = [...this.active.values()];
    this.active.clear(); // nothing to give back to a dead context: the coordinator is replaced below
    for (const active of running) this.finish(active, "error", crash);
    if (this.reopen !== undefined && !this.disposed) {
      this.restarting = true;
      try {
        const { model, context } = await this.reopen(crash);
        this.currentModel = model;
        this.context = context;
        this.endTokens = new Set(model.info.endOfGenerationTokens);
        this.cache = this.coordinator();
        this.restarts++;
        return true;
      } catch (error) {
        this.failure = error as Error;
      } finally {
        this.restarting = false;
      }
    }
    this.failure ??= crash;
    for (const entry of this.queue.splice(0)) this.failQueued(entry, this.failure);
    this.swapBytes = 0;
    return false;
  }

  private account(started: number, decodeStarted: number, decodeEnded = performance.now()): void {
    this.counters.steps++;
    this.counters.decodeMs += decodeEnded - decodeStarted;
    this.counters.stepMs += performance.now() - started;
  }

  /** A sampled token: end, stop, or keep going. */
  private accept(active: Active, token: number, margin: number, logits: Float32Array | undefined, logprobs: TokenLogprobs | undefined): void {
    if ((this.endTokens.has(token) && !active.request.ignoreEndOfGeneration) || active.stopTokens.has(token)) {
      this.finish(active, "stop");
      return;
    }
    active.generated.push(token);
    this.counters.tokensGenerated++;
    active.channel.push(logits === undefined && logprobs === undefined ? { type: "token", token, margin } : { type: "token", token, margin, ...(logits !== undefined ? { logits } : {}), ...logprobs });
    const { delta, stopped } = active.text.push(this.currentModel.tokenBytes(token));
    if (delta.length > 0) active.channel.push({ type: "text-delta", text: delta });
    if (stopped) {
      this.finish(active, "stop");
      return;
    }
    if (active.generated.length >= active.maxTokens) {
      this.finish(active, "length");
      return;
    }
    active.pending = token;
  }

  /** Ends a request's stream; its slot is released by {@link releaseFinished} (marked via `finished`). */
  private finish(active: Active, reason: FinishReason, error?: Error): void {
    if (active.finished) return;
    active.finished = true;
    active.pending = undefined;
    active.reason = reason;
    if (reason !== "cancelled") {
      const rest = active.text.flush();
      if (rest.length > 0) active.channel.push({ type: "text-delta", text: rest });
    }
    if (error !== undefined) active.channel.push({ type: "error", error });
    active.channel.push({
      type: "finish",
      reason,
      usage: { promptTokens: Math.min(active.prefilled, active.request.prompt.length), completionTokens: active.generated.length, cachedPromptTokens: active.cachedTokens },
      text: active.text.value,
    });
    active.channel.close();
    active.detach();
    this.closeSampler(active.sampling);
    if (!this.stepping) this.release(active);
  }

  /** Frees a request's sampler now, or when the step in flight ends (the backend is busy until then). */
  private closeSampler(sampling: RequestSampler): void {
    if (this.stepping) this.samplersToClose.push(sampling);
    else sampling.close();
  }

  /**
   * Gives a finished request's slot back to the cache. What it evaluated stays cached there (with a checkpoint at
   * the end of a completed answer) unless a failure may have left the sequence inconsistent.
   */
  private release(active: Active): void {
    if (this.active.get(active.slot) !== active) return;
    this.active.delete(active.slot);
    const reason = active.reason ?? "cancelled";
    const tokens = [...active.request.prompt, ...active.generated];
    try {
      this.cache.finish(active.slot, tokens, { keep: reason !== "error", checkpoint: reason === "stop" || reason === "length" });
    } catch (error) {
      // The backend crashed under us (seen first here, e.g. on a cancel between steps): the loop recovers.
      if (!this.noteCrash(error)) throw error;
      this.kick();
    }
  }

  /** Frees finished and cancelled requests (only while no decode is in flight). */
  private releaseFinished(): void {
    for (const active of [...this.active.values()]) {
      if (active.cancelled && !active.finished) this.finish(active, "cancelled");
      if (active.finished) this.release(active);
    }
  }
}

/** A step's decode batch, its four arrays filled in one pass over the rows. */
function batchOf(rows: readonly StepRow[]): DecodeBatch {
  const n = rows.length;
  const batch = { tokens: new Int32Array(n), positions: new Int32Array(n), sequenceIds: new Int32Array(n), outputs: new Uint8Array(n) };
  for (let i = 0; i < n; i++) {
    const row = rows[i]!;
    batch.tokens[i] = row.token;
    batch.positions[i] = row.position;
    batch.sequenceIds[i] = row.active.slot;
    batch.outputs[i] = row.output ? 1 : 0;
  }
  return batch;
}

type TokenLogprobs = { readonly logprob: number; readonly topLogprobs: readonly { token: number; logprob: number }[] };

/** The log-probabilities of output row `index` when its request asked for them (`top` alternatives, -1 = none). */
function tokenLogprobs(result: DecodeResult, index: number, top: number): TokenLogprobs | undefined {
  if (top === -1 || result.logprobs === undefined) return undefined;
  const stride = result.topTokens!.length / result.logprobs.length;
  const topLogprobs: { token: number; logprob: number }[] = [];
  for (let i = 0; i < top; i++) topLogprobs.push({ token: result.topTokens![index * stride + i]!, logprob: result.topLogprobs![index * stride + i]! });
  return { logprob: result.logprobs[index]!, topLogprobs };
}

/** The tokens a request's cells hold, in order: its prompt, then what it generated (the last one not yet evaluated). */
function evaluatedTokens(active: Active): Int32Array {
  if (active.generated.length === 0) return active.prefillTokens.subarray(0, active.prefilled);
  return Int32Array.from([...active.request.prompt, ...active.generated]);
}

function validateTokens(tokens: ArrayLike<number>, vocabSize: number): Int32Array {
  if (tokens === null || typeof tokens !== "object" || typeof tokens.length !== "number") throw new InvalidArgumentError({ argument: "tokens", message: "tokens must be an array of token ids" });
  const out = Int32Array.from(tokens);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    if (typeof token !== "number" || !Number.isInteger(token) || token < 0 || token >= vocabSize) throw new InvalidArgumentError({ argument: "tokens", message: `tokens[${i}] = ${String(token)} is not a token id of this model` });
  }
  return out;
}
