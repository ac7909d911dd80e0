import type { RecurrentFamily } from "../cache/cache-spec.js";
import { ModelMetadataError } from "../errors/model-metadata-error.js";
import type { MetadataReader } from "./metadata.js";

/**
 * Per-architecture cache rules, transcribed from the bundled llama.cpp (v0.4.0):
 * - which layers are recurrent: `load_arch_hparams` in src/models/<arch>.cpp (`is_recr_impl`);
 * - which layers get KV / recurrent buffers: `llama_model::create_memory` (layer filters) in src/llama-model.cpp;
 * - state sizes: `n_embd_r` / `n_embd_s` in src/llama-hparams.cpp.
 * Each rule reads only keys that change memory; it throws {@link ModelMetadataError} where llama.cpp would
 * refuse to load for a missing key.
 */

/** Hyperparameters read the same way for every architecture (`llama_model_base::load_hparams`). */
export interface CommonHparams {
  readonly layerCountAll: number;
  readonly nextnLayerCount: number;
  /** `n_layer()` = blocks that run in the main graph. */
  readonly layerCount: number;
  readonly embeddingLength: number;
  readonly contextLength: number;
  readonly headCount: readonly number[];
  readonly headCountKv: readonly number[];
  readonly feedForward: readonly number[];
  readonly keyHeadDim: number;
  readonly valueHeadDim: number;
}

/** What an architecture rule decides. */
export interface ArchitectureLayout {
  /** `is_recr(il)` for every block. */
  readonly isRecurrent: readonly boolean[];
  /** Blocks (of `layerCountAll`) that get a KV cache. */
  readonly attentionLayers: readonly number[];
  /** Blocks (of `layerCount`) that get recurrent state. */
  readonly recurrentLayers: readonly number[];
  /** Recurrent state sizes (f32 elements), or null when the model has none. */
  readonly recurrent: { family: RecurrentFamily; convElements: number; stateElements: number } | null;
  /** MLA: K is the compressed latent, no V cache. */
  readonly isMla: boolean;
  /**
   * Sliding-window attention (llama.cpp `swa_type` STANDARD): the window `n_swa` and `is_swa(il)` per block. Absent
   * when no layer slides. A hybrid with sliding layers gets llama.cpp's `llama_memory_hybrid_iswa` cache.
   */
  readonly sliding?: { readonly window: number; readonly isSliding: readonly boolean[] };
}

type Rule = {
  readonly kind: "hybrid" | "recurrent" | "transformer";
  layout(h: CommonHparams, keys: MetadataReader): ArchitectureLayout;
};

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** llama.cpp's SSM keys (`ssm.*`); the group count is read only by Mamba2-style models. */
function ssmDims(keys: MetadataReader, withGroups: boolean) {
  return {
    convKernel: keys.uint("ssm.conv_kernel"),
    innerSize: keys.uint("ssm.inner_size"),
    stateSize: keys.uint("ssm.state_size"),
    timeStepRank: keys.uint("ssm.time_step_rank"),
    groupCount: withGroups ? keys.uint("ssm.group_count") : 0,
  };
}

/** `n_embd_r` / `n_embd_s` for Mamba, Mamba2 and gated delta-net layers. */
function ssmState(family: RecurrentFamily, keys: MetadataReader, withGroups: boolean) {
  const ssm = ssmDims(keys, withGroups);
  const convRows = ssm.convKernel > 0 ? ssm.convKernel - 1 : 0;
  return {
    family,
    convElements: convRows * (ssm.innerSize + 2 * ssm.groupCount * ssm.stateSize),
    stateElements: ssm.stateSize * ssm.innerSize,
  };
}

/** Default hybrid filters (`llama_memory_hybrid` with null filters): KV where not recurrent, state where recurrent. */
function defaultHybridLayout(
  h: CommonHparams,
  isRecurrent: boolean[],
  recurrent: ArchitectureLayout["recurrent"],
  isMla = false,
): ArchitectureLayout {
  return {
    isRecurrent,
    attentionLayers: range(h.layerCountAll).filter((il) => !isRecurrent[il]),
    recurrentLayers: range(h.layerCount).filter((il) => isRecurrent[il]),
    recurrent,
    isMla,
  };
}

/** `is_recr_impl[i] = n_head_kv(i) == 0` for the main blocks (Granite, LFM2, Jamba, Kimi). */
function recurrentWhereNoKvHeads(h: CommonHparams): boolean[] {
  return range(h.layerCountAll).map((il) => il < h.layerCount && h.headCountKv[il] === 0);
}

const nemotronH: Rule = {
  kind: "hybrid",
  layout(h, keys) {
    // A block is Mamba2 iff n_head_kv == 0 and n_ff == 0; attention iff n_ff == 0 and not recurrent; else MLP/MoE.
    const isRecurrent = range(h.layerCountAll).map(
      (il) => il < h.layerCount && h.headCountKv[il] === 0 && h.feedForward[il] === 0,
    );
    return {
      isRecurrent,
      attentionLayers: range(h.layerCountAll).filter((il) => !isRecurrent[il] && h.feedForward[il] === 0),
      recurrentLayers: range(h.layerCount).filter((il) => isRecurrent[il] && h.feedForward[il] === 0),
      recurrent: ssmState("mamba2", keys, true),
      isMla: false,
    };
  },
};

const qwenNext: Rule = {
  kind: "hybrid",
  layout(h, keys) {
    const recurrent = ssmState("gated-delta-net", keys, true);
    const explicit = keys.boolPerLayer("attention.recurrent_layers", h.layerCountAll);
    const interval = keys.uint("full_attention_interval", 4);
    if (explicit === undefined && interval === 0) {
      throw new ModelMetadataError({ key: keys.key("full_attention_interval"), message: "must be > 0" });
    }
    const isRecurrent =
      explicit ?? range(h.layerCountAll).map((il) => il < h.layerCount && (il + 1) % interval !== 0);
    // Only the main blocks: the MTP block runs in its own context.
    return {
      isRecurrent,
      attentionLayers: range(h.layerCount).filter((il) => !isRecurrent[il]),
      recurrentLayers: range(h.layerCount).filter((il) => isRecurrent[il]),
      recurrent,
      isMla: false,
    };
  },
};

const graniteHybrid: Rule = {
  kind: "hybrid",
  layout: (h, keys) => defaultHybridLayout(h, recurrentWhereNoKvHeads(h), ssmState("mamba2", keys, true)),
};

const jamba: Rule = {
  kind: "hybrid",
  layout: (h, keys) => defaultHybridLayout(h, recurrentWhereNoKvHeads(h), ssmState("mamba", keys, false)),
};

/** LFM2's short-conv state: `l_cache - 1` columns of the embedding per sequence. */
function shortConvState(h: CommonHparams, keys: MetadataReader): ArchitectureLayout["recurrent"] {
  const lCache = keys.uint("shortconv.l_cache");
  return { family: "short-conv", convElements: h.embeddingLength * Math.max(lCache - 1, 0), stateElements: 0 };
}

const lfm2: Rule = {
  kind: "hybrid",
  layout(h, keys) {
    const isRecurrent = recurrentWhereNoKvHeads(h);
    const layout = defaultHybridLayout(h, isRecurrent, shortConvState(h, keys));
    // src/models/lfm2.cpp: a positive `attention.sliding_window` makes every attention layer slide (LFM2.5-Audio's
    // detokenizer, `Lfm25AudioTokenizer`), and the model gets the hybrid iSWA cache.
    const window = keys.uint("attention.sliding_window", 0);
    if (window === 0) return layout;
    return { ...layout, sliding: { window, isSliding: isRecurrent.map((recurrent) => !recurrent) } };
  },
};

const lfm2moe: Rule = {
  kind: "hybrid",
  layout(h, keys) {
    if (keys.uint("attention.sliding_window", 0) > 0) {
      // src/models/lfm2moe.cpp never reads the key, so llama.cpp would run full attention over a model trained with
      // a window: outputs past the window would silently differ from the model's.
      throw new ModelMetadataError({
        key: keys.key("attention.sliding_window"),
        message: "lfm2moe with sliding-window attention is not supported: the bundled llama.cpp ignores the window for lfm2moe and would run full attention",
      });
    }
    return defaultHybridLayout(h, recurrentWhereNoKvHeads(h), shortConvState(h, keys));
  },
};

const falconH1: Rule = {
  kind: "hybrid",
  layout(h, keys) {
    // Every block has both an attention and a Mamba2 mixer, so both caches cover every layer.
    return {
      isRecurrent: range(h.layerCountAll).map(() => true),
      attentionLayers: range(h.layerCountAll),
      recurrentLayers: range(h.layerCount),
      recurrent: ssmState("mamba2", keys, true),
      isMla: false,
    };
  },
};

const kimiLinear: Rule = {
  kind: "hybrid",
  layout(h, keys) {
    keys.uint("attention.key_length_mla");
    keys.uint("attention.value_length_mla");
    keys.uint("attention.kv_lora_rank");
    const convKernel = keys.uint("ssm.conv_kernel");
    const headDim = keys.uint("kda.head_dim");
    if (headDim === 0) throw new ModelMetadataError({ key: keys.key("kda.head_dim"), message: "must be > 0" });
    const heads = h.headCount[0] ?? 0;
    return defaultHybridLayout(
      h,
      recurrentWhereNoKvHeads(h),
      {
        family: "kimi-delta-attention",
        // Q, K and V each keep (d_conv - 1) columns of conv state.
        convElements: 3 * (convKernel > 0 ? convKernel - 1 : 3) * heads * headDim,
        stateElements: headDim * headDim * heads,
      },
      true,
    );
  },
};

function pureRecurrent(withGroups: boolean, family: RecurrentFamily): Rule {
  return {
    kind: "recurrent",
    layout: (h, keys) => ({
      isRecurrent: range(h.layerCountAll).map((il) => il < h.layerCount),
      attentionLayers: [],
      recurrentLayers: range(h.layerCount),
      recurrent: ssmState(family, keys, withGroups),
      isMla: false,
    }),
  };
}

const transformer: Rule = {
  kind: "transformer",
  layout: (h) => ({
    isRecurrent: range(h.layerCountAll).map(() => false),
    attentionLayers: range(h.layerCountAll),
    recurrentLayers: [],
    recurrent: null,
    isMla: false,
  }),
};

/** Architecture name (as in `general.architecture`) → rule. */
export const architectureRules: ReadonlyMap<string, Rule> = new Map<string, Rule>([
  ["nemotron_h", nemotronH],
  ["nemotron_h_moe", nemotronH],
  ["granitehybrid", graniteHybrid],
  ["lfm2", lfm2],
  ["lfm2moe", lfm2moe],
  ["qwen3next", qwenNext],
  ["qwen35", qwenNext],
  ["qwen35moe", qwenNext],
  ["falcon-h1", falconH1],
  ["jamba", jamba],
  ["kimi-linear", kimiLinear],
  ["mamba", pureRecurrent(false, "mamba")],
  ["mamba2", pureRecurrent(true, "mamba2")],
  // Plain transformers without sliding-window attention: the non-hybrid baseline.
  ["llama", transformer],
  ["qwen2", transformer],
  ["qwen2moe", transformer],
  ["qwen3", transformer],
  ["qwen3moe", transformer],
  ["granite", transformer],
  ["granitemoe", transformer],
]);

/** Names of every architecture the planner supports. */
export const supportedArchitectures: readonly string[] = [...architectureRules.keys()];
