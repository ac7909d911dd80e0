/**
 * The surface of hybrid-llm's Node-API binding (`native/src`), as both the native addon and its Wasm build expose
 * it. Typed here once; {@link BindingModel} and {@link BindingContext} turn it into the backend interface.
 * Errors thrown by the binding carry a `code` (`HYBRID_LLM_*`), mapped by {@link toTypedError}.
 */
export interface NativeBinding {
  /** Loads llama.cpp from a directory (native) or the linked copy (Wasm). Once per process. */
  init(libraryDir: string): void;
  /** ggml devices after init. */
  devices(): NativeDevice[];
  /** llama.cpp's system info line (SIMD features, backends). */
  systemInfo(): string;
  /** Everything llama.cpp logged since the last call. */
  takeLog(): string;
  /** Mirror llama.cpp's log to stderr. */
  echoLog(on: boolean): void;
  readonly Model: new () => NativeModel;
  readonly Context: new (model: NativeModel) => NativeContext;
  readonly bindingVersion: number;
  /** Throws a C++ exception that is not a Napi::Error (`bad_alloc`, `runtime_error`, else a non-std value), to test the boundary. */
  readonly throwForTesting?: (kind: string) => never;
  /** Native builds only: two threads log a problem each at once and take their own; returns what each took. */
  readonly problemLogForTesting?: () => [string, string];
  /** Wasm builds only: aborts like a failed GGML_ASSERT (a trap), to test that the host survives. */
  readonly abortForTesting?: () => never;
}

export interface NativeDevice {
  readonly name: string;
  readonly description: string;
  readonly type: "cpu" | "gpu" | "igpu" | "accel" | "other";
  readonly freeBytes: number;
  readonly totalBytes: number;
}

export interface NativeModelInfo {
  readonly description: string;
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly embeddingLength: number;
  readonly layerCount: number;
  readonly sizeBytes: number;
  readonly parameterCount: number;
  readonly isRecurrent: boolean;
  readonly isHybrid: boolean;
  readonly bosToken: number;
  readonly eosToken: number;
  readonly eotToken: number;
  readonly addBos: boolean;
  readonly chatTemplate: string | null;
  readonly endOfGenerationTokens: Int32Array;
}

/** Layers on llama.cpp's RPC backend: the built libggml-rpc, the servers (`host:port`), one split weight per device. */
export interface NativeRpcOptions {
  readonly library: string;
  readonly servers: readonly string[];
  readonly tensorSplit?: readonly number[];
}

export interface NativeModel {
  load(source: string | Uint8Array, options: { gpuLayers?: number; mmap?: boolean; noAlloc?: boolean; onProgress?: (fraction: number) => void; rpc?: NativeRpcOptions }): Promise<void>;
  abort(): void;
  info(): NativeModelInfo;
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Int32Array;
  detokenize(tokens: Int32Array, removeSpecial: boolean, unparseSpecial: boolean): string;
  /** Every token's piece: token t's bytes are `bytes[offsets[t], offsets[t + 1])` (`vocabSize + 1` offsets). */
  tokenPieces(special: boolean): { bytes: Uint8Array; offsets: Uint32Array };
  /** null when the GBNF grammar parses (start rule "root"), else llama.cpp's reason. */
  grammarError(grammar: string): string | null;
  dispose(): void;
}

export interface NativeContextCreateOptions {
  readonly ctx: number;
  readonly slots: number;
  readonly unified: boolean;
  readonly batch: number;
  readonly ubatch: number;
  readonly typeK: number;
  readonly typeV: number;
  readonly flashAttention: boolean | "auto";
  readonly threads?: number;
  readonly recurrentSnapshots: number;
  /** Defaults to true (llama.cpp's `swa_full` default). */
  readonly swaFull?: boolean;
}

export interface NativeContext {
  create(options: NativeContextCreateOptions): Promise<void>;
  info(): { nCtx: number; nCtxSeq: number; nBatch: number; nUbatch: number; nSeqMax: number };
  decode(
    tokens: Int32Array,
    positions: Int32Array,
    sequenceIds: Int32Array,
    outputs: Uint8Array,
    returnLogits: boolean,
    samplers?: Int32Array,
    logprobs?: Int32Array,
  ): Promise<NativeDecodeResult>;
  seqRemove(sequence: number, p0: number, p1: number): boolean;
  seqCopy(source: number, destination: number, p0: number, p1: number): void;
  seqKeep(sequence: number): void;
  seqAdd(sequence: number, p0: number, p1: number, delta: number): void;
  posMin(sequence: number): number;
  posMax(sequence: number): number;
  clear(data: boolean): void;
  getState(sequence: number, flags: number): Uint8Array;
  setState(sequence: number, state: Uint8Array, flags: number): number;
  allocation(): { bufferType: string; model: number; context: number; compute: number }[] | null;
  setThreads(threads: number): void;
  createSampler(config: NativeSamplerConfig): number;
  freeSampler(handle: number): boolean;
  acceptSampler(handle: number, tokens: Int32Array): void;
  samplerCount(): number;
  dispose(): void;
}

/** What the native decode returns (see context.cpp): one entry per output row. */
export interface NativeDecodeResult {
  argmax: Int32Array;
  margins: Float32Array;
  logits?: Float32Array;
  tokens?: Int32Array;
  logprobs?: Float32Array;
  topTokens?: Int32Array;
  topLogprobs?: Float32Array;
}

/** A sampler as the binding builds it (sampler.cpp): SamplerConfig with the logit bias as two arrays. */
export interface NativeSamplerConfig {
  readonly temperature: number;
  readonly topK: number;
  readonly topP: number;
  readonly minP: number;
  readonly typicalP: number;
  readonly repetitionPenalty: number;
  readonly presencePenalty: number;
  readonly frequencyPenalty: number;
  readonly penaltyLastN: number;
  readonly seed: number;
  readonly biasTokens: Int32Array;
  readonly biasValues: Float32Array;
  readonly grammar?: string;
}
