import type { AttentionLayerSpec, CacheSpec } from "../cache/cache-spec.js";
import { ModelMetadataError } from "../errors/model-metadata-error.js";
import { UnsupportedArchitectureError } from "../errors/unsupported-architecture-error.js";
import { type CommonHparams, architectureRules, supportedArchitectures } from "./architectures.js";
import { MetadataReader, architectureOf } from "./metadata.js";
import type { GgufValue } from "./value-types.js";

const LLAMA_MAX_LAYERS = 512;

const LLAMA_MAX_EXPERTS = 1024;

/**
 * The mixture-of-experts counts, checked as `llama_model_base::load_hparams` asserts them (a failed assert aborts the
 * process): at most LLAMA_MAX_EXPERTS experts, each layer routing to at most that many, at least one when there are
 * experts and none when there are not; expert groups fewer than experts, dividing them, with some but not all used.
 */
function checkExperts(keys: MetadataReader, layerCountAll: number, zeros: readonly number[]): void {
  const experts = keys.uint("expert_count", 0);
  const usedMax = Math.max(0, ...keys.uintPerLayer("expert_used_count", layerCountAll, zeros));
  const groups = keys.uint("expert_group_count", 0);
  const groupsUsed = keys.uint("expert_group_used_count", 0);
  const fail = (suffix: string, message: string) => {
    throw new ModelMetadataError({ key: keys.key(suffix), message });
  };
  if (experts > LLAMA_MAX_EXPERTS) fail("expert_count", `${experts} exceeds ${LLAMA_MAX_EXPERTS}`);
  if (usedMax > experts) fail("expert_used_count", `${usedMax} exceeds expert_count ${experts}`);
  if (experts > 0) {
    if (usedMax === 0) fail("expert_used_count", "must be at least 1 when the model has experts");
    if (groups >= experts) fail("expert_group_count", `${groups} must be below expert_count ${experts}`);
    if (groups > 1 && (experts % groups !== 0 || groupsUsed === 0 || groupsUsed >= groups)) {
      fail("expert_group_used_count", `expert groups must divide expert_count and some but not all be used (${groupsUsed} of ${groups})`);
    }
  } else if (groups !== 0) {
    fail("expert_group_count", "must be 0 without experts");
  }
}

/** The hyperparameters every architecture reads (`llama_model_base::load_hparams`). */
function commonHparams(keys: MetadataReader): CommonHparams {
  const layerCountAll = keys.uint("block_count");
  if (layerCountAll === 0 || layerCountAll > LLAMA_MAX_LAYERS) {
    throw new ModelMetadataError({ key: keys.key("block_count"), message: `${layerCountAll} is not in [1, ${LLAMA_MAX_LAYERS}]` });
  }
  const nextnLayerCount = keys.uint("nextn_predict_layers", 0);
  if (nextnLayerCount > layerCountAll) {
    throw new ModelMetadataError({ key: keys.key("nextn_predict_layers"), message: `${nextnLayerCount} exceeds block_count` });
  }
  const zeros = new Array<number>(layerCountAll).fill(0);
  checkExperts(keys, layerCountAll, zeros);
  const embeddingLength = keys.uint("embedding_length");
  const headCount = keys.uintPerLayer("attention.head_count", layerCountAll, zeros);
  // n_head_kv defaults to n_head.
  const headCountKv = keys.uintPerLayer("attention.head_count_kv", layerCountAll, headCount);
  const feedForward = keys.uintPerLayer("feed_forward_length", layerCountAll, zeros);
  const firstHeads = headCount[0] ?? 0;
  let keyHeadDim = 0;
  let valueHeadDim = 0;
  if (firstHeads > 0) {
    const defaultHeadDim = Math.floor(embeddingLength / firstHeads);
    keyHeadDim = keys.uint("attention.key_length", defaultHeadDim);
    valueHeadDim = keys.uint("attention.value_length", defaultHeadDim);
  }
  return {
    layerCountAll,
    nextnLayerCount,
    layerCount: layerCountAll - nextnLayerCount,
    embeddingLength,
    contextLength: keys.uint("context_length"),
    headCount,
    headCountKv,
    feedForward,
    keyHeadDim,
    valueHeadDim,
  };
}

/**
 * The vocabulary size, after the checks llama.cpp's vocabulary loader makes with asserts (a failed one aborts the
 * process): token strings are strings and unique (`id_to_token.size() == token_to_id.size()`), and the per-token
 * arrays it indexes by token id are as long as the token list.
 */
function vocabSizeOf(metadata: ReadonlyMap<string, GgufValue>, keys: MetadataReader): number | undefined {
  const tokens = metadata.get("tokenizer.ggml.tokens");
  if (tokens === undefined) return keys.has("vocab_size") ? keys.uint("vocab_size") : undefined;
  if (tokens.type !== "array" || tokens.elementType !== "string") {
    throw new ModelMetadataError({ key: "tokenizer.ggml.tokens", message: "must be an array of strings" });
  }
  const distinct = new Set(tokens.value);
  if (distinct.size !== tokens.value.length) {
    throw new ModelMetadataError({ key: "tokenizer.ggml.tokens", message: `${tokens.value.length - distinct.size} token string(s) appear more than once` });
  }
  for (const key of ["tokenizer.ggml.scores", "tokenizer.ggml.token_type"]) {
    const values = metadata.get(key);
    if (values !== undefined && (values.type !== "array" || values.value.length !== tokens.value.length)) {
      throw new ModelMetadataError({ key, message: `must be an array with one entry per token (${tokens.value.length})` });
    }
  }
  return tokens.value.length;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * Derives a model's {@link CacheSpec} from its GGUF metadata with llama.cpp's own rules.
 *
 * @throws UnsupportedArchitectureError for an architecture without rules here.
 * @throws ModelMetadataError for metadata llama.cpp would refuse to load.
 */
export function cacheSpecFromMetadata(metadata: ReadonlyMap<string, GgufValue>): CacheSpec {
  const architecture = architectureOf(metadata);
  const rule = architectureRules.get(architecture);
  if (rule === undefined) throw new UnsupportedArchitectureError({ architecture, supported: supportedArchitectures });
  const keys = new MetadataReader(metadata, architecture);
  const h = commonHparams(keys);
  const layout = rule.layout(h, keys);

  const kvWidth = (heads: readonly number[], headDim: number, il: number) => headDim * (heads[il] ?? 0);
  const attentionLayers: AttentionLayerSpec[] = layout.attentionLayers.map((layer) => ({
    layer,
    headCountKv: h.headCountKv[layer] ?? 0,
    keyWidth: kvWidth(h.headCountKv, h.keyHeadDim, layer),
    valueWidth: layout.isMla ? 0 : kvWidth(h.headCountKv, h.valueHeadDim, layer),
    sliding: layout.sliding?.isSliding[layer] === true,
  }));
  for (const layer of attentionLayers) {
    if (layer.keyWidth === 0) {
      throw new ModelMetadataError({
        key: keys.key("attention.head_count_kv"),
        message: `attention layer ${layer.layer} has no KV heads or a zero head size`,
      });
    }
  }
  const valueWidthMax = Math.max(0, ...h.headCountKv.map((_, il) => kvWidth(h.headCountKv, h.valueHeadDim, il)));

  return deepFreeze({
    architecture,
    kind: rule.kind,
    layerCount: h.layerCountAll,
    nextnLayerCount: h.nextnLayerCount,
    contextLength: h.contextLength,
    embeddingLength: h.embeddingLength,
    headCount: h.headCount[0] ?? 0,
    vocabSize: vocabSizeOf(metadata, keys),
    feedForwardMax: Math.max(0, ...h.feedForward),
    attention: {
      layers: attentionLayers,
      storesValues: !layout.isMla,
      keyHeadDim: h.keyHeadDim,
      valueHeadDim: h.valueHeadDim,
      valueWidthMax,
      slidingWindow: layout.sliding?.window ?? 0,
    },
    recurrent:
      layout.recurrent === null || layout.recurrentLayers.length === 0
        ? null
        : { layers: layout.recurrentLayers, ...layout.recurrent },
  });
}
