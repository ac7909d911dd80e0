import type { ContextInfo } from "./context-options.js";
import type { DecodeBatch, DecodeOptions, DecodeResult } from "./decode-batch.js";
import type { MemoryAllocation } from "./memory-allocation.js";
import type { SamplerConfig } from "./sampler-config.js";

/** Which part of a sequence's state to read or write. */
export interface StateOptions {
  /**
   * Only the recurrent (and sliding-window) part, llama.cpp's `LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY`: a checkpoint
   * of the fixed-size state, to pair with attention cells that are still in the cache. Defaults to `false`.
   */
  readonly partial?: boolean;
}

/**
 * A llama.cpp context: the KV pool and recurrent slots of one model, and the sequence operations over them
 * (llama.cpp's memory API: half-open position ranges `[p0, p1)`, `-1` meaning open-ended).
 *
 * Methods other than `decode` and `dispose` are synchronous and throw a busy {@link BackendError} while a
 * decode is in flight.
 */
export interface BackendContext {
  /** What the context was created with. */
  readonly info: ContextInfo;
  /** Evaluates one batch. Rejects with InvalidArgumentError for a malformed batch, BackendError otherwise. */
  decode(batch: DecodeBatch, options?: DecodeOptions): Promise<DecodeResult>;
  /**
   * Removes positions `[p0, p1)` of a sequence. Returns `false`, changing nothing, when that cannot be done —
   * a recurrent state cannot be cut in the middle.
   */
  seqRemove(sequence: number, p0?: number, p1?: number): boolean;
  /** Makes `destination` share `source`'s positions `[p0, p1)` (shared cells in a unified pool, no copy). */
  seqCopy(source: number, destination: number, p0?: number, p1?: number): void;
  /** Removes every sequence but this one. */
  seqKeep(sequence: number): void;
  /** Shifts positions `[p0, p1)` of a sequence by `delta`. */
  seqAdd(sequence: number, p0: number, p1: number, delta: number): void;
  /** Smallest position of a sequence, -1 when empty. */
  posMin(sequence: number): number;
  /** Largest position of a sequence, -1 when empty. */
  posMax(sequence: number): number;
  /** Empties every sequence (and zeroes the buffers unless `data` is false). */
  clear(data?: boolean): void;
  /** Serializes a sequence's state (full, or only its recurrent part). */
  getState(sequence: number, options?: StateOptions): Uint8Array;
  /** Restores a sequence's state from {@link getState}'s bytes; returns the bytes read. */
  setState(sequence: number, state: Uint8Array, options?: StateOptions): number;
  /** Exact bytes llama.cpp allocated, or null when the linked llama.cpp cannot say. */
  allocation(): MemoryAllocation | null;
  /**
   * Creates a token sampler (a llama.cpp sampler chain) and returns its handle, for {@link DecodeOptions.samplers}.
   * A sampler belongs to a request, not to a sequence: the same handle serves it on whichever slot it runs. It keeps
   * its state (penalty history, grammar position, random generator) across decodes until {@link freeSampler}.
   * Throws InvalidArgumentError (argument `grammar`) for a grammar that does not parse.
   */
  createSampler(config: SamplerConfig): number;
  /** Frees a sampler. Unknown handles are ignored. */
  freeSampler(handle: number): void;
  /**
   * Feeds tokens to a sampler's state as if it had sampled them (penalties, grammar): rebuilds a request's sampler
   * on another context. Throws InvalidArgumentError when the grammar does not allow one of them.
   */
  acceptSampler(handle: number, tokens: Int32Array): void;
  /** Samplers alive in this context (leak checks). */
  samplerCount(): number;
  /** Frees the context. Idempotent; waits for an in-flight decode. */
  dispose(): Promise<void>;
}
