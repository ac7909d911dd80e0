import type { BackendContext } from "../backend/backend-context.js";
import type { BackendModel } from "../backend/backend-model.js";
import { CacheCoordinator } from "../cache/cache-coordinator.js";
import { ContextOverflowError } from "../errors/context-overflow-error.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import { QueueFullError } from "../errors/queue-full-error.js";
import { Channel } from "./channel.js";
import { Sampler, type SamplingOptions } from "./sampler.js";
import type { FinishReason, StreamPart, Usage } from "./stream-part.js";
import { TextOutput } from "./text-output.js";

/** Options of {@link Engine}. */
export interface EngineOptions {
  /** The model. */
  readonly model: BackendModel;
  /** A context of that model; its `slots` and `nCtx` bound concurrency and the shared KV pool. */
  readonly context: BackendContext;
  /** Requests allowed to wait for a slot; one more is refused with QueueFullError. Defaults to 64. */
  readonly maxQueue?: number;
  /** `maxTokens` of requests that give none. Defaults to 256. */
  readonly defaultMaxTokens?: number;
}

/** One generation request: tokens in, a stream of parts out. */
export interface GenerateRequest extends SamplingOptions {
  /** The prompt, tokenized (chat templates are rendered by the caller). */
  readonly prompt: Int32Array;
  /** Most tokens to generate; also capped by what one sequence can hold. Defaults to the engine's default. */
  readonly maxTokens?: number;
  /** Stop when the text contains one of these (the stop string itself is not returned). */
  readonly stop?: readonly string[];
  /** Stop on these tokens, besides the model's end-of-generation tokens. */
  readonly stopTokens?: readonly number[];
  /** Keep generating through end-of-generation tokens (benchmarks: always produce `maxTokens`). Defaults to false. */
  readonly ignoreEndOfGeneration?: boolean;
  /** Cancels the request at any point: queued, prefilling or generating. Its slot and cells are freed at once. */
  readonly signal?: AbortSignal;
}

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
  readonly slotsBusy: number;
  readonly poolCells: number;
  readonly poolCellsReserved: number;
  readonly poolCellsUsed: number;
  readonly queueDepth: number;
  readonly promptTokensEvaluated: number;
  readonly tokensGenerated: number;
  readonly steps: number;
  /** Milliseconds spent in steps, and the part of it spent waiting for the backend's decode. */
  readonly stepMs: number;
  readonly decodeMs: number;
  readonly active: readonly { readonly requestId: number; readonly slot: number; readonly state: "prefill" | "decode"; readonly promptTokens: number; readonly prefilled: number; readonly generated: number }[];
}

interface Active {
  readonly id: number;
  readonly request: GenerateRequest;
  readonly channel: Channel<StreamPart>;
  readonly slot: number;
  readonly maxTokens: number;
  readonly sampler: Sampler;
  readonly text: TextOutput;
  readonly stopTokens: ReadonlySet<number>;
  prefilled: number;
  generated: number[];
  pending: number | undefined;
  cancelled: boolean;
  finished: boolean;
  detach: () => void;
}

interface Queued {
  readonly id: number;
  readonly request: GenerateRequest;
  readonly sampler: Sampler;
  readonly channel: Channel<StreamPart>;
  readonly cells: number;
  readonly maxTokens: number;
  detach: () => void;
}

/**
 * The scheduler: continuous batching of many requests on one context. Every step is one batch holding one decode
 * token per generating request plus prefill chunks of waiting prompts up to the context's batch size, so a long
 * prompt never stalls the others. A request is admitted when a recurrent slot is free and the shared KV pool can
 * reserve its prompt plus its maximum output; otherwise it waits in a bounded queue (first come, first served).
 */
export class Engine {
  private readonly model: BackendModel;
  private readonly context: BackendContext;
  private readonly cache: CacheCoordinator;
  private readonly maxQueue: number;
  private readonly defaultMaxTokens: number;
  private readonly queue: Queued[] = [];
  private readonly active = new Map<number, Active>();
  private readonly endTokens: ReadonlySet<number>;
  private nextId = 1;
  private running: Promise<void> | undefined;
  private stepping = false;
  private disposed = false;
  private counters = { promptTokensEvaluated: 0, tokensGenerated: 0, steps: 0, stepMs: 0, decodeMs: 0 };

  constructor(options: EngineOptions) {
    this.model = options.model;
    this.context = options.context;
    this.maxQueue = options.maxQueue ?? 64;
    this.defaultMaxTokens = options.defaultMaxTokens ?? 256;
    const info = options.context.info;
    this.cache = new CacheCoordinator({ capacity: info.nCtx, perSequenceLimit: info.cellsPerStream, slots: info.slots });
    this.endTokens = new Set(options.model.info.endOfGenerationTokens);
  }

  /**
   * Submits a request. Throws, before any work, ContextOverflowError when the prompt cannot fit one sequence and
   * QueueFullError when the queue is full; everything after arrives as stream parts.
   */
  generate(request: GenerateRequest): AsyncIterable<StreamPart> {
    if (this.disposed) throw new InvalidArgumentError({ argument: "engine", message: "the engine was disposed" });
    const prompt = request.prompt;
    if (!(prompt instanceof Int32Array) || prompt.length === 0) {
      throw new InvalidArgumentError({ argument: "prompt", message: "the prompt must be a non-empty Int32Array of tokens" });
    }
    const maxTokens = request.maxTokens ?? this.defaultMaxTokens;
    if (!Number.isInteger(maxTokens) || maxTokens < 1) {
      throw new InvalidArgumentError({ argument: "maxTokens", message: `maxTokens must be a positive integer, got ${maxTokens}` });
    }
    for (const token of prompt) {
      if (token < 0 || token >= this.model.info.vocabSize) {
        throw new InvalidArgumentError({ argument: "prompt", message: `token ${token} is outside the vocabulary` });
      }
    }
    const sampler = new Sampler(request); // validates the sampling options now, not mid-stream
    const limit = Math.min(this.cache.pool.perSequenceLimit, this.cache.pool.capacity);
    // The prompt plus at least one generated token must fit one sequence.
    if (prompt.length + 1 > limit) throw new ContextOverflowError({ needed: prompt.length + 1, available: limit });
    if (this.queue.length >= this.maxQueue) throw new QueueFullError({ limit: this.maxQueue });

    const channel = new Channel<StreamPart>();
    const entry: Queued = { id: this.nextId++, request, sampler, channel, cells: Math.min(prompt.length + maxTokens, limit), maxTokens, detach: () => {} };
    if (request.signal?.aborted) {
      channel.push({ type: "finish", reason: "cancelled", usage: { promptTokens: 0, completionTokens: 0, cachedPromptTokens: 0 }, text: "" });
      channel.close();
      return channel;
    }
    const onAbort = () => this.cancelQueued(entry);
    request.signal?.addEventListener("abort", onAbort, { once: true });
    entry.detach = () => request.signal?.removeEventListener("abort", onAbort);
    this.queue.push(entry);
    this.kick();
    return channel;
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
    return {
      slots: this.cache.slots.count,
      slotsBusy: this.cache.slots.inUse,
      poolCells: this.cache.pool.capacity,
      poolCellsReserved: this.cache.pool.reservedCells,
      poolCellsUsed: this.cache.pool.usedCells,
      queueDepth: this.queue.length,
      ...this.counters,
      active: [...this.active.values()].map((a) => ({
        requestId: a.id,
        slot: a.slot,
        state: a.prefilled < a.request.prompt.length ? ("prefill" as const) : ("decode" as const),
        promptTokens: a.request.prompt.length,
        prefilled: a.prefilled,
        generated: a.generated.length,
      })),
    };
  }

  /** Resolves when every submitted request has finished. */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /** Cancels everything and stops. The context and model stay the caller's. */
  async dispose(): Promise<void> {
    this.disposed = true;
    for (const entry of [...this.queue]) this.cancelQueued(entry);
    for (const active of this.active.values()) active.cancelled = true;
    if (!this.stepping) this.releaseCancelled();
    await this.idle();
  }

  private kick(): void {
    this.running ??= this.loop().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0 && !this.disposed) this.kick();
    });
  }

  private cancelQueued(entry: Queued): void {
    const index = this.queue.indexOf(entry);
    if (index !== -1) {
      this.queue.splice(index, 1);
      entry.detach();
      entry.channel.push({ type: "finish", reason: "cancelled", usage: { promptTokens: 0, completionTokens: 0, cachedPromptTokens: 0 }, text: "" });
      entry.channel.close();
      return;
    }
    const active = [...this.active.values()].find((a) => a.id === entry.id);
    if (active !== undefined) {
      active.cancelled = true;
      // Between steps the context is free: release now. During a step, right after it.
      if (!this.stepping) this.releaseCancelled();
    }
  }

  private admit(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const plan = this.cache.planAdmission(head.cells);
      if (plan === null) return;
      this.cache.commitAdmission(plan);
      this.queue.shift();
      const active: Active = {
        id: head.id,
        request: head.request,
        channel: head.channel,
        slot: plan.slot,
        maxTokens: Math.min(head.maxTokens, head.cells - head.request.prompt.length),
        sampler: head.sampler,
        text: new TextOutput(head.request.stop ?? []),
        stopTokens: new Set(head.request.stopTokens ?? []),
        prefilled: 0,
        generated: [],
        pending: undefined,
        cancelled: false,
        finished: false,
        detach: head.detach,
      };
      this.context.seqRemove(active.slot); // a reused slot starts empty
      this.active.set(active.slot, active);
      active.channel.push({ type: "start", requestId: active.id, slot: active.slot, promptTokens: head.request.prompt.length });
    }
  }

  private async loop(): Promise<void> {
    try {
      while (!this.disposed || this.active.size > 0) {
        this.admit();
        if (this.active.size === 0) return;
        await this.step();
      }
    } catch (error) {
      // A bug or a backend failing outside decode: end every stream with the error rather than leave them hanging.
      this.stepping = false;
      for (const active of [...this.active.values()]) this.finish(active, "error", error as Error);
      for (const entry of this.queue.splice(0)) {
        entry.detach();
        entry.channel.push({ type: "error", error: error as Error });
        entry.channel.push({ type: "finish", reason: "error", usage: { promptTokens: 0, completionTokens: 0, cachedPromptTokens: 0 }, text: "" });
        entry.channel.close();
      }
      this.releaseCancelled();
    }
  }

  /** One batch: a decode token per generating request, then prefill chunks up to the batch size. */
  private async step(): Promise<void> {
    const started = performance.now();
    const rows: { active: Active; token: number; position: number; output: boolean; prefill: boolean }[] = [];
    for (const active of this.active.values()) {
      if (active.pending !== undefined && !active.cancelled) {
        const position = active.request.prompt.length + active.generated.length - 1;
        rows.push({ active, token: active.pending, position, output: true, prefill: false });
      }
    }
    let budget = this.context.info.batch - rows.length;
    for (const active of [...this.active.values()].sort((a, b) => a.id - b.id)) {
      if (budget <= 0) break;
      const prompt = active.request.prompt;
      if (active.cancelled || active.prefilled >= prompt.length) continue;
      const take = Math.min(budget, prompt.length - active.prefilled);
      for (let i = 0; i < take; i++) {
        const position = active.prefilled + i;
        rows.push({ active, token: prompt[position]!, position, output: position === prompt.length - 1, prefill: true });
      }
      budget -= take;
    }
    if (rows.length === 0) {
      this.releaseCancelled();
      return;
    }
    const needsLogits = rows.some((row) => row.output && row.active.sampler.needsLogits);
    this.stepping = true;
    let result;
    const decodeStarted = performance.now();
    try {
      result = await this.context.decode(
        {
          tokens: Int32Array.from(rows, (r) => r.token),
          positions: Int32Array.from(rows, (r) => r.position),
          sequenceIds: Int32Array.from(rows, (r) => r.active.slot),
          outputs: Uint8Array.from(rows, (r) => (r.output ? 1 : 0)),
        },
        { returnLogits: needsLogits },
      );
    } catch (error) {
      this.stepping = false;
      // The batch failed as a whole (nothing was written): fail the requests in it, keep serving the others.
      for (const active of new Set(rows.map((r) => r.active))) this.finish(active, "error", error as Error);
      this.releaseCancelled();
      this.account(started, decodeStarted);
      return;
    }
    this.stepping = false;
    const decodeEnded = performance.now();

    for (const row of rows) {
      this.cache.pool.markWritten(row.active.slot, 1);
      if (row.prefill) {
        row.active.prefilled++;
        this.counters.promptTokensEvaluated++;
      }
    }
    const vocab = this.model.info.vocabSize;
    result.rows.forEach((batchIndex, outputIndex) => {
      const row = rows[batchIndex]!;
      const active = row.active;
      if (active.cancelled || active.finished) return;
      const token = active.sampler.needsLogits
        ? active.sampler.sample(result.logits!.subarray(outputIndex * vocab, (outputIndex + 1) * vocab), active.generated)
        : result.argmax[outputIndex]!;
      this.accept(active, token, result.margins[outputIndex]!);
    });
    this.releaseCancelled();
    this.account(started, decodeStarted, decodeEnded);
  }

  private account(started: number, decodeStarted: number, decodeEnded = performance.now()): void {
    this.counters.steps++;
    this.counters.decodeMs += decodeEnded - decodeStarted;
    this.counters.stepMs += performance.now() - started;
  }

  /** A sampled token: end, stop, or keep going. */
  private accept(active: Active, token: number, margin: number): void {
    if ((this.endTokens.has(token) && !active.request.ignoreEndOfGeneration) || active.stopTokens.has(token)) {
      this.finish(active, "stop");
      return;
    }
    active.generated.push(token);
    this.counters.tokensGenerated++;
    active.channel.push({ type: "token", token, margin });
    const { delta, stopped } = active.text.push(this.model.tokenBytes(token));
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

  /** Ends a request's stream; its slot is released by {@link releaseCancelled} (marked via `finished`). */
  private finish(active: Active, reason: FinishReason, error?: Error): void {
    if (active.finished) return;
    active.finished = true;
    active.pending = undefined;
    if (reason !== "cancelled") {
      const rest = active.text.flush();
      if (rest.length > 0) active.channel.push({ type: "text-delta", text: rest });
    }
    if (error !== undefined) active.channel.push({ type: "error", error });
    active.channel.push({
      type: "finish",
      reason,
      usage: { promptTokens: active.prefilled, completionTokens: active.generated.length, cachedPromptTokens: 0 },
      text: active.text.value,
    });
    active.channel.close();
    active.detach();
    if (!this.stepping) this.release(active);
  }

  private release(active: Active): void {
    if (!this.active.has(active.slot)) return;
    this.active.delete(active.slot);
    this.cache.release(active.slot);
    try {
      // Whole-sequence removal always succeeds, recurrent state included (admission clears the slot again anyway).
      this.context.seqRemove(active.slot);
    } catch {
      // The context is gone (disposed, crashed): nothing left to clear.
    }
  }

  /** Frees finished and cancelled requests (only while no decode is in flight). */
  private releaseCancelled(): void {
    for (const active of [...this.active.values()]) {
      if (active.cancelled && !active.finished) this.finish(active, "cancelled");
      if (active.finished) this.release(active);
    }
  }
}
