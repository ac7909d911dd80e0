import type { BackendContext } from "../backend/backend-context.js";
import type { BackendModel, DetokenizeOptions, TokenizeOptions } from "../backend/backend-model.js";
import type { ContextInfo, ContextOptions } from "../backend/context-options.js";
import type { ModelInfo } from "../backend/model-info.js";
import type { CacheSpec } from "../cache/cache-spec.js";
import { BackendError } from "../errors/backend-error.js";
import { DisposedError } from "../errors/disposed-error.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import { ggmlTypeByName } from "../gguf/ggml-types.js";
import { planContext } from "../plan/context-plan.js";
import { BindingContext } from "./binding-context.js";
import type { NativeBinding, NativeContext, NativeModel, NativeRpcOptions } from "./native-binding.js";
import type { MeasuredAllocation } from "../backend/memory-allocation.js";
import type { MemoryPlan } from "../plan/memory-plan.js";
import { allocationOf } from "./binding-context.js";
import { toTypedError, typed } from "./typed-errors.js";
import { grammarShapeError } from "./grammar-shape.js";
import { TokenPieceTables, type TokenPieces } from "./token-pieces.js";

/** Creates a native context over `model` with `options`, checked and resolved by the planner first. */
async function createNativeContext(binding: NativeBinding, model: NativeModel, spec: CacheSpec, options: ContextOptions): Promise<{ plan: MemoryPlan; native: NativeContext }> {
  const { plan, batch, ubatch } = planContext(spec, options);
  const { slots, kvTypeK, kvTypeV } = plan.options;
  const native = typed("context", () => new binding.Context(model));
  try {
    await native.create({
      ctx: plan.options.ctx,
      slots,
      unified: plan.options.unified,
      batch,
      ubatch,
      typeK: ggmlTypeByName(kvTypeK)!.id,
      typeV: ggmlTypeByName(kvTypeV)!.id,
      flashAttention: options.flashAttention ?? "auto",
      ...(options.threads === undefined ? {} : { threads: options.threads }),
      recurrentSnapshots: plan.options.recurrentSnapshots,
      swaFull: plan.options.swaFull,
    });
  } catch (error) {
    native.dispose();
    throw toTypedError(error, "context");
  }
  return { plan, native };
}

/** {@link BackendModel} over the binding's native model. */
export class BindingModel implements BackendModel {
  private disposed = false;
  private readonly contexts = new Set<BindingContext>();
  /**
   * Every token's bytes, without and with `special`, fetched from the binding at the first ask: the engine asks
   * for every token it generates (its text), once per row per step, and a token's bytes never change for a loaded
   * model.
   */
  private readonly pieces: TokenPieceTables;

  private constructor(
    private readonly binding: NativeBinding,
    private readonly native: NativeModel,
    readonly info: ModelInfo,
    private readonly onDispose: ((model: BindingModel) => void) | undefined,
  ) {
    this.pieces = new TokenPieceTables(info.vocabSize, (special) => typed("model", () => native.tokenPieces(special)));
  }

  /**
   * Loads a model whose header was already parsed and checked (the cache spec exists, so the architecture is
   * supported and the metadata sane) — nothing malformed reaches llama.cpp.
   */
  static async load(
    binding: NativeBinding,
    source: string | Uint8Array,
    spec: CacheSpec,
    options: {
      /** The GGUF header's digest (`GgufFile.identity`). */
      identity: string;
      gpuLayers: number;
      mmap?: boolean;
      /** Devices on llama.cpp's RPC backend (already checked by the backend). */
      rpc?: NativeRpcOptions;
      /** llama.cpp's no_alloc: metadata only; such a model only measures (see {@link BindingModel.measure}). */
      noAlloc?: boolean;
      onProgress?: (fraction: number) => void;
      signal?: AbortSignal;
      /** Called once when the model is disposed (the owning backend forgets it). */
      onDispose?: (model: BindingModel) => void;
    },
  ): Promise<BindingModel> {
    const native = new binding.Model();
    if (options.signal?.aborted) throw new BackendError({ code: "aborted", message: "the load was aborted before it started" });
    const abort = () => native.abort();
    options.signal?.addEventListener("abort", abort, { once: true });
    try {
      await native.load(source, {
        gpuLayers: options.gpuLayers,
        mmap: options.mmap ?? true,
        noAlloc: options.noAlloc ?? false,
        onProgress: options.onProgress,
        ...(options.rpc === undefined ? {} : { rpc: options.rpc }),
      });
    } catch (error) {
      throw toTypedError(error, "model");
    } finally {
      options.signal?.removeEventListener("abort", abort);
    }
    const facts = native.info();
    const info: ModelInfo = {
      architecture: spec.architecture,
      description: facts.description,
      cacheSpec: spec,
      vocabSize: facts.vocabSize,
      contextLength: facts.contextLength,
      embeddingLength: facts.embeddingLength,
      layerCount: facts.layerCount,
      isHybrid: facts.isHybrid,
      isRecurrent: facts.isRecurrent,
      chatTemplate: facts.chatTemplate,
      bosToken: facts.bosToken,
      eosToken: facts.eosToken,
      endOfGenerationTokens: [...facts.endOfGenerationTokens],
      addBos: facts.addBos,
      sizeBytes: facts.sizeBytes,
      parameterCount: facts.parameterCount,
      identity: options.identity,
    };
    return new BindingModel(binding, native, Object.freeze(info), options.onDispose);
  }

  /**
   * What llama.cpp would allocate for contexts over the model at `path`, without allocating them: the model is loaded
   * once with llama.cpp's `no_alloc` (metadata only; weights, KV cache, recurrent state and compute buffers are sized,
   * never allocated), one context per entry of `options` is created and its memory breakdown read, then all are freed.
   * The file's tensor data is never read, so a weightless GGUF (a sparse file) measures like the real model.
   */
  static async measure(binding: NativeBinding, path: string, spec: CacheSpec, options: readonly ContextOptions[], gpuLayers: number): Promise<MeasuredAllocation[]> {
    for (const each of options) planContext(spec, each); // refuse bad options before anything is loaded
    const native = new binding.Model();
    try {
      await native.load(path, { gpuLayers, mmap: false, noAlloc: true });
    } catch (error) {
      throw toTypedError(error, "model");
    }
    try {
      const measured: MeasuredAllocation[] = [];
      for (const each of options) {
        const { native: context } = await createNativeContext(binding, native, spec, each);
        try {
          const facts = context.info();
          const rows = typed("context", () => context.allocation());
          if (rows === null) throw new BackendError({ code: "unavailable", message: "this llama.cpp build does not report its memory breakdown" });
          measured.push({ ...allocationOf(rows), nCtx: facts.nCtx, cellsPerStream: facts.nCtxSeq });
        } finally {
          context.dispose();
        }
      }
      return measured;
    } finally {
      native.dispose();
    }
  }

  private live(): NativeModel {
    if (this.disposed) throw new DisposedError({ object: "model" });
    return this.native;
  }

  tokenize(text: string, options: TokenizeOptions = {}): Int32Array {
    const native = this.live();
    if (typeof text !== "string") throw new InvalidArgumentError({ argument: "text", message: "tokenize() needs a string" });
    return typed("model", () => native.tokenize(text, options.addSpecial ?? true, options.parseSpecial ?? false));
  }

  detokenize(tokens: Int32Array, options: DetokenizeOptions = {}): string {
    const native = this.live();
    this.checkTokens(tokens);
    return typed("model", () => native.detokenize(tokens, options.removeSpecial ?? false, options.unparseSpecial ?? false));
  }

  tokenBytes(token: number, options: { readonly special?: boolean } = {}): Uint8Array {
    this.live();
    return this.pieces.tokenBytes(token, options); // a copy: a caller's change cannot reach the next one
  }

  /**
   * Every token's bytes in two arrays (see {@link TokenPieces}), for a caller across a thread boundary that looks
   * tokens up on its own side: the Wasm backend's main thread.
   */
  tokenPieces(special: boolean): TokenPieces {
    this.live();
    if (typeof special !== "boolean") throw new InvalidArgumentError({ argument: "special", message: `special must be a boolean, got ${typeof special}` });
    return this.pieces.table(special).raw();
  }

  grammarError(grammar: string): string | null {
    const native = this.live();
    if (typeof grammar !== "string") throw new InvalidArgumentError({ argument: "grammar", message: "grammar must be a string" });
    // llama.cpp parses nested groups recursively: a deep one would overflow the stack, so it never gets there.
    const shape = grammarShapeError(grammar);
    if (shape !== undefined) return shape;
    return typed("model", () => native.grammarError(grammar));
  }

  private checkTokens(tokens: Int32Array): void {
    if (!(tokens instanceof Int32Array)) throw new InvalidArgumentError({ argument: "tokens", message: "tokens must be an Int32Array" });
    for (const token of tokens) {
      if (!Number.isInteger(token) || token < 0 || token >= this.info.vocabSize) {
        throw new InvalidArgumentError({ argument: "tokens", message: `token ${token} is outside the vocabulary [0, ${this.info.vocabSize})` });
      }
    }
  }

  async createContext(options: ContextOptions): Promise<BackendContext> {
    this.live();
    const { plan, native } = await createNativeContext(this.binding, this.native, this.info.cacheSpec, options);
    const { kvTypeK, kvTypeV } = plan.options;
    const facts = native.info();
    const info: ContextInfo = {
      nCtx: facts.nCtx,
      cellsPerStream: facts.nCtxSeq,
      slots: facts.nSeqMax,
      unified: plan.options.unified,
      batch: facts.nBatch,
      ubatch: facts.nUbatch,
      kvTypeK,
      kvTypeV,
      swaFull: plan.options.swaFull,
    };
    const context = new BindingContext(native, Object.freeze(info), this.info.vocabSize, (c) => this.contexts.delete(c));
    this.contexts.add(context);
    return context;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all([...this.contexts].map((context) => context.dispose()));
    this.native.dispose();
    this.onDispose?.(this);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
