import type { CacheSpec } from "../cache/cache-spec.js";
import { InvalidPlanError } from "../errors/invalid-plan-error.js";
import { ggmlRowBytes } from "../gguf/ggml-types.js";
import { type KvCacheType, isKvCacheType, isQuantized, kvCacheTypeInfo, kvCacheTypes } from "./kv-cache-type.js";

/** llama.cpp's `LLAMA_MAX_SEQ`: the most sequences (slots) one context can hold. */
export const MAX_SLOTS = 256;
/** llama.cpp pads `n_ctx` (and, per stream, `n_ctx_seq`) to a multiple of this. */
export const CTX_PAD = 256;
/** Largest `n_ctx` llama.cpp's 32-bit context arithmetic can pad without overflowing. */
export const MAX_CTX = 0xffffff00;

/** What to plan for: the context parameters that decide llama.cpp's cache allocation. */
export interface MemoryPlanOptions {
  /** Context size in tokens for all slots together (llama.cpp `n_ctx`). Padded up to a multiple of 256. */
  readonly ctx: number;
  /** Parallel sequences (llama.cpp `n_seq_max`): one recurrent state each. */
  readonly slots: number;
  /** Element type of both K and V. Defaults to `f16`. */
  readonly kvType?: KvCacheType;
  /** Element type of K; overrides `kvType`. */
  readonly kvTypeK?: KvCacheType;
  /** Element type of V; overrides `kvType`. Quantized V needs flash attention. */
  readonly kvTypeV?: KvCacheType;
  /**
   * One KV stream shared by all slots (llama.cpp `kv_unified = true`): any slot may grow to the whole pool.
   * When false, each slot gets its own stream of `n_ctx / slots` cells (padded to 256). Defaults to `true`.
   */
  readonly unified?: boolean;
  /**
   * Flash attention on (llama.cpp `flash_attn`). Off, V is stored transposed and padded to the widest layer,
   * and quantized V is refused. Defaults to `true` (what llama.cpp's `auto` resolves to on CPU, CUDA, Metal).
   */
  readonly flashAttention?: boolean;
  /**
   * Extra recurrent snapshots per sequence for rollback (llama.cpp `n_rs_seq`, experimental). Defaults to 0.
   * llama.cpp keeps them only for architectures with partial rollback (Nemotron-H, LFM2, Qwen3.5) and silently
   * uses 0 for the others; the plan does the same (see {@link ResolvedPlanOptions.recurrentSnapshots}).
   */
  readonly recurrentSnapshots?: number;
  /**
   * Micro-batch size (llama.cpp `n_ubatch`): sizes the SWA cache of a sliding-window model (which must hold a whole
   * micro-batch beyond the window) and the compute-buffer estimate. Defaults to 512.
   */
  readonly ubatch?: number;
  /**
   * Sliding-window layers keep a full-size cache (llama.cpp `swa_full`), as large as the other attention layers'.
   * When false, their cache holds only the window: `pad(min(cells per stream, window × (unified ? slots : 1) +
   * ubatch), 256)` cells per stream. Defaults to `true`, llama.cpp's default. Ignored without sliding-window layers.
   */
  readonly swaFull?: boolean;
}

/** The resolved options a plan was made for. */
export interface ResolvedPlanOptions {
  readonly ctx: number;
  readonly slots: number;
  readonly kvTypeK: KvCacheType;
  readonly kvTypeV: KvCacheType;
  readonly unified: boolean;
  readonly flashAttention: boolean;
  /** The snapshots llama.cpp keeps: as requested where the architecture supports rollback, else 0. */
  readonly recurrentSnapshots: number;
  readonly ubatch: number;
  readonly swaFull: boolean;
}

/** Exactly what llama.cpp allocates for a model's caches, before anything is loaded. All sizes in bytes. */
export interface MemoryPlan {
  /** The model's architecture. */
  readonly architecture: string;
  /** Hybrid, pure recurrent or plain transformer. */
  readonly kind: CacheSpec["kind"];
  /** The options, with defaults filled in. */
  readonly options: ResolvedPlanOptions;
  /** `n_ctx` as llama.cpp ends up using it (padded; non-unified: cells per stream × streams). */
  readonly nCtx: number;
  /** KV streams: 1 when unified, `slots` otherwise. */
  readonly kvStreams: number;
  /** Cells in each KV stream (`n_ctx_seq`). */
  readonly cellsPerStream: number;
  /** Cells in the whole KV cache (cellsPerStream × kvStreams). */
  readonly kvCells: number;
  /** Layers with a KV cache. */
  readonly attentionLayerCount: number;
  /** Of those, sliding-window layers: kept in llama.cpp's SWA cache (`llama_kv_cache_iswa`). 0 for most models. */
  readonly slidingLayerCount: number;
  /** The sliding window in tokens (`n_swa`); 0 without sliding-window layers. */
  readonly slidingWindow: number;
  /**
   * Cells in each stream of the SWA cache: `cellsPerStream` with `swaFull`, else the window's share (see
   * {@link MemoryPlanOptions.swaFull}); 0 without sliding-window layers.
   */
  readonly swaCellsPerStream: number;
  /** K + V bytes of the sliding-window layers' cache (part of `attentionKvBytes`). */
  readonly swaKvBytes: number;
  /** Layers with recurrent state. */
  readonly recurrentLayerCount: number;
  /** K + V bytes of one cell across all attention layers (sliding or not). */
  readonly attentionBytesPerCell: number;
  /** K cache bytes (llama.cpp `size_k_bytes`). */
  readonly attentionKBytes: number;
  /** V cache bytes (llama.cpp `size_v_bytes`). */
  readonly attentionVBytes: number;
  /** K + V: the attention KV cache as allocated. */
  readonly attentionKvBytes: number;
  /**
   * What llama.cpp allocated for a hybrid model's KV cache before PR #19559: every one of the `slots` streams
   * got the full `n_ctx` cells. Null for non-hybrid models, which never had that problem, and for sliding-window
   * models (not modelled: their SWA cache is sized by other rules).
   */
  readonly perStreamAttentionKvBytes: number | null;
  /** Recurrent rows (llama.cpp `mem_size × (1 + n_rs_seq)`). */
  readonly recurrentRows: number;
  /** Recurrent state of one row across all recurrent layers (f32 conv + SSM state). */
  readonly recurrentBytesPerSequence: number;
  /** Rolling convolution state of all rows and layers (llama.cpp `size_r_bytes`, "R"). */
  readonly recurrentConvBytes: number;
  /** SSM / delta-net state of all rows and layers (llama.cpp `size_s_bytes`, "S"). */
  readonly recurrentSsmBytes: number;
  /** All recurrent state: R + S. */
  readonly recurrentStateBytes: number;
  /**
   * A rough estimate of llama.cpp's compute buffers (activations, logits, attention scores) for one micro-batch.
   * Not exact: llama.cpp sizes these by reserving a worst-case graph. Treat as ±2×.
   */
  readonly computeBytesEstimate: number;
}

function resolveOptions(options: MemoryPlanOptions): ResolvedPlanOptions {
  const kvType = options.kvType ?? "f16";
  const resolved: ResolvedPlanOptions = {
    ctx: options.ctx,
    slots: options.slots,
    kvTypeK: options.kvTypeK ?? kvType,
    kvTypeV: options.kvTypeV ?? kvType,
    unified: options.unified ?? true,
    flashAttention: options.flashAttention ?? true,
    recurrentSnapshots: options.recurrentSnapshots ?? 0,
    ubatch: options.ubatch ?? 512,
    swaFull: options.swaFull ?? true,
  };
  const integer = (option: string, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new InvalidPlanError({ option, message: `${option} must be an integer in [${min}, ${max}], got ${value}` });
    }
  };
  integer("ctx", resolved.ctx, 1, MAX_CTX);
  integer("slots", resolved.slots, 1, MAX_SLOTS);
  integer("recurrentSnapshots", resolved.recurrentSnapshots, 0, 64);
  integer("ubatch", resolved.ubatch, 1, 1 << 20);
  if (typeof resolved.swaFull !== "boolean") {
    throw new InvalidPlanError({ option: "swaFull", message: `swaFull must be a boolean, got ${String(resolved.swaFull)}` });
  }
  for (const [option, type] of [["kvTypeK", resolved.kvTypeK], ["kvTypeV", resolved.kvTypeV]] as const) {
    if (!isKvCacheType(type)) {
      throw new InvalidPlanError({ option, message: `unknown KV cache type "${type}" (one of ${kvCacheTypes.join(", ")})` });
    }
  }
  return resolved;
}

/**
 * Architectures whose recurrent state llama.cpp can roll back (`llm_arch_supports_rs_rollback` in src/llama-arch.cpp):
 * only these keep `n_rs_seq` snapshots; for any other, llama_context clamps `n_rs_seq` to 0.
 */
const ROLLBACK_ARCHITECTURES: ReadonlySet<string> = new Set(["qwen35", "qwen35moe", "nemotron_h", "nemotron_h_moe", "lfm2", "lfm2moe"]);

/** Refuses what llama.cpp's `llama_init_from_model` refuses, or would abort on, for these cache types. */
function checkKvTypes(spec: CacheSpec, options: ResolvedPlanOptions): void {
  const { attention } = spec;
  if (attention.layers.length === 0) return;
  const { kvTypeK, kvTypeV, flashAttention } = options;
  if (!attention.storesValues && kvTypeK !== kvTypeV) {
    throw new InvalidPlanError({
      option: "kvType",
      message: `${spec.architecture} uses MLA and needs the same K and V cache types (got K ${kvTypeK}, V ${kvTypeV})`,
    });
  }
  if (attention.storesValues && isQuantized(kvTypeV) && !flashAttention) {
    throw new InvalidPlanError({ option: "kvTypeV", message: `a quantized V cache (${kvTypeV}) requires flash attention` });
  }
  const checks: [string, KvCacheType, string, number][] = [];
  if (flashAttention) {
    checks.push(["kvTypeK", kvTypeK, "key head size", attention.keyHeadDim]);
    if (attention.storesValues) checks.push(["kvTypeV", kvTypeV, "value head size", attention.valueHeadDim]);
  }
  for (const layer of attention.layers) {
    checks.push(["kvTypeK", kvTypeK, `layer ${layer.layer} K row`, layer.keyWidth]);
    if (attention.storesValues) checks.push(["kvTypeV", kvTypeV, `layer ${layer.layer} V row`, valueRowWidth(spec, layer.valueWidth, options)]);
  }
  for (const [option, type, what, elements] of checks) {
    const info = kvCacheTypeInfo(type);
    if (elements % info.blockSize !== 0) {
      throw new InvalidPlanError({
        option,
        message: `${type} stores blocks of ${info.blockSize} elements, but the ${what} of ${spec.architecture} is ${elements}, not a multiple of ${info.blockSize}`,
      });
    }
  }
}

/** Without flash attention V is transposed and every layer's rows are padded to the widest V (TAG_V_CACHE_VARIABLE). */
function valueRowWidth(spec: CacheSpec, valueWidth: number, options: ResolvedPlanOptions): number {
  return options.flashAttention ? valueWidth : spec.attention.valueWidthMax;
}

function rowBytes(type: KvCacheType, elements: number): number {
  const bytes = ggmlRowBytes(kvCacheTypeInfo(type), elements);
  if (bytes === undefined) throw new Error(`unreachable: ${elements} elements of ${type} checked earlier`);
  return bytes;
}

const pad = (n: number, to: number) => Math.ceil(n / to) * to;

/**
 * Cells per stream of the SWA cache (`llama_kv_cache_iswa`): the whole stream with `swa_full`, else the window of
 * every sequence in the stream plus one micro-batch, padded to 256 and never above the stream. llama.cpp's
 * `n_ubatch` is at most the requested `n_ctx` (llama_context clamps `n_batch` to it for causal models).
 */
function swaCells(window: number, cellsPerStream: number, options: ResolvedPlanOptions): number {
  if (options.swaFull) return cellsPerStream;
  const ubatch = Math.min(options.ubatch, options.ctx);
  return pad(Math.min(cellsPerStream, window * (options.unified ? options.slots : 1) + ubatch), CTX_PAD);
}

/**
 * Plans a model's cache memory exactly as llama.cpp (v0.4.0) allocates it for these context parameters: the
 * attention KV cache (cells, streams, K and V bytes) and the recurrent state, plus a labelled estimate of the
 * compute buffers.
 *
 * @throws InvalidPlanError for options llama.cpp would refuse (or abort on).
 *
 * @example Nemotron 3 Nano at 1,048,576 tokens × 8 slots: 6 GiB of KV in one shared pool (48 GiB before llama.cpp PR #19559)
 * ```ts
 * import { modelPreset, planMemory } from "@hybrid-llm/core";
 *
 * const plan = planMemory(modelPreset("nemotron3-nano-30b-a3b")!.spec, { ctx: 1_048_576, slots: 8 });
 * plan.attentionKvBytes;           // 6,442,450,944
 * plan.perStreamAttentionKvBytes;  // 51,539,607,552
 * plan.recurrentStateBytes;        // 399,441,920 (47.62 MiB per slot)
 * ```
 *
 * @example A GGUF file, reading only its header
 * ```ts
 * import { cacheSpecFromMetadata, planMemory } from "@hybrid-llm/core";
 * import { readGgufFile } from "@hybrid-llm/core/node";
 *
 * const file = await readGgufFile("model.gguf");
 * const plan = planMemory(cacheSpecFromMetadata(file.metadata), { ctx: 131072, slots: 8, kvType: "q8_0" });
 * ```
 */
export function planMemory(spec: CacheSpec, options: MemoryPlanOptions): MemoryPlan {
  const requested = resolveOptions(options);
  const resolved: ResolvedPlanOptions = ROLLBACK_ARCHITECTURES.has(spec.architecture) ? requested : { ...requested, recurrentSnapshots: 0 };
  checkKvTypes(spec, resolved);
  const { slots, unified } = resolved;

  // llama_context: n_ctx = pad(n_ctx, 256); non-unified: n_ctx_seq = pad(n_ctx / n_seq_max, 256), n_ctx = n_ctx_seq × n_seq_max.
  const paddedCtx = pad(resolved.ctx, CTX_PAD);
  const kvStreams = unified ? 1 : slots;
  const cellsPerStream = unified ? paddedCtx : pad(Math.floor(paddedCtx / slots), CTX_PAD);
  const nCtx = cellsPerStream * kvStreams;

  // Sliding-window layers live in the SWA half of llama.cpp's iSWA cache (src/llama-kv-cache-iswa.cpp).
  const sliding = spec.attention.layers.filter((layer) => layer.sliding);
  const swaCellsPerStream = sliding.length === 0 ? 0 : swaCells(spec.attention.slidingWindow, cellsPerStream, resolved);
  let kBytes = 0;
  let vBytes = 0;
  let swaKvBytes = 0;
  let attentionBytesPerCell = 0;
  for (const layer of spec.attention.layers) {
    const cells = (layer.sliding ? swaCellsPerStream : cellsPerStream) * kvStreams;
    const k = rowBytes(resolved.kvTypeK, layer.keyWidth);
    const v = spec.attention.storesValues ? rowBytes(resolved.kvTypeV, valueRowWidth(spec, layer.valueWidth, resolved)) : 0;
    kBytes += k * cells;
    vBytes += v * cells;
    if (layer.sliding) swaKvBytes += (k + v) * cells;
    attentionBytesPerCell += k + v;
  }

  const recurrent = spec.recurrent;
  const recurrentRows = Math.max(1, slots) * (1 + resolved.recurrentSnapshots);
  // f32 rows: one per sequence (and per rollback snapshot), in every recurrent layer.
  const recurrentConvBytes = recurrent === null ? 0 : recurrent.layers.length * recurrent.convElements * 4 * recurrentRows;
  const recurrentSsmBytes = recurrent === null ? 0 : recurrent.layers.length * recurrent.stateElements * 4 * recurrentRows;

  return {
    architecture: spec.architecture,
    kind: spec.kind,
    options: resolved,
    nCtx,
    kvStreams,
    cellsPerStream,
    kvCells: nCtx,
    attentionLayerCount: spec.attention.layers.length,
    slidingLayerCount: sliding.length,
    slidingWindow: sliding.length === 0 ? 0 : spec.attention.slidingWindow,
    swaCellsPerStream,
    swaKvBytes,
    recurrentLayerCount: recurrent?.layers.length ?? 0,
    attentionBytesPerCell,
    attentionKBytes: kBytes,
    attentionVBytes: vBytes,
    attentionKvBytes: kBytes + vBytes,
    perStreamAttentionKvBytes: spec.kind === "hybrid" && sliding.length === 0 ? attentionBytesPerCell * paddedCtx * slots : null,
    recurrentRows,
    recurrentBytesPerSequence: (recurrentConvBytes + recurrentSsmBytes) / recurrentRows,
    recurrentConvBytes,
    recurrentSsmBytes,
    recurrentStateBytes: recurrentConvBytes + recurrentSsmBytes,
    computeBytesEstimate: estimateComputeBytes(spec, resolved, cellsPerStream),
  };
}

/**
 * Order-of-magnitude estimate of the compute buffers for one micro-batch: f32 activations of the widest layer,
 * the logits, and (without flash attention) the attention score matrix over one stream.
 */
function estimateComputeBytes(spec: CacheSpec, options: ResolvedPlanOptions, cellsPerStream: number): number {
  const tokens = options.ubatch;
  const widest = Math.max(spec.embeddingLength, spec.feedForwardMax);
  const activations = tokens * (spec.embeddingLength * 8 + widest * 4) * 4;
  const logits = tokens * (spec.vocabSize ?? 0) * 4;
  const scores = options.flashAttention || spec.attention.layers.length === 0 ? 0 : tokens * cellsPerStream * spec.headCount * 4;
  return Math.round(activations + logits + scores);
}

/** Cache bytes one layer holds in a planned context: its attention K + V cells and its recurrent rows. */
export interface LayerCacheBytes {
  readonly layer: number;
  readonly attentionKvBytes: number;
  readonly recurrentStateBytes: number;
}

/**
 * The plan's cache memory per layer (only layers that hold any): what moves with a layer when llama.cpp puts it on
 * a device (its KV cache and recurrent state are allocated on the layer's device). Sums to the plan's totals.
 */
export function planLayerCacheBytes(spec: CacheSpec, plan: MemoryPlan): LayerCacheBytes[] {
  const byLayer = new Map<number, { attentionKvBytes: number; recurrentStateBytes: number }>();
  const entry = (layer: number) => byLayer.get(layer) ?? byLayer.set(layer, { attentionKvBytes: 0, recurrentStateBytes: 0 }).get(layer)!;
  for (const layer of spec.attention.layers) {
    let bytes = rowBytes(plan.options.kvTypeK, layer.keyWidth);
    if (spec.attention.storesValues) bytes += rowBytes(plan.options.kvTypeV, valueRowWidth(spec, layer.valueWidth, plan.options));
    entry(layer.layer).attentionKvBytes += bytes * plan.nCtx;
  }
  const recurrent = spec.recurrent;
  if (recurrent !== null) {
    for (const layer of recurrent.layers) entry(layer).recurrentStateBytes += (recurrent.convElements + recurrent.stateElements) * 4 * plan.recurrentRows;
  }
  return [...byLayer.entries()].sort(([a], [b]) => a - b).map(([layer, bytes]) => ({ layer, ...bytes }));
}
