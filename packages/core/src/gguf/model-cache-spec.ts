import type { AttentionLayerSpec, CacheSpec } from "../cache/cache-spec.js";
import { ModelMetadataError } from "../errors/model-metadata-error.js";
import { UnsupportedArchitectureError } from "../errors/unsupported-architecture-error.js";
import { type CommonHparams, architectureRules, supportedArchitectures } from "./architectures.js";
import { MetadataReader, architectureOf } from "./metadata.js";
import type { GgufValue } from "./value-types.js";

const LLAMA_MAX_LAYERS = 512;

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

function vocabSizeOf(metadata: ReadonlyMap<string, GgufValue>, keys: MetadataReader): number | undefined {
  const tokens = metadata.get("tokenizer.ggml.tokens");
  if (tokens?.type === "array") return tokens.value.length;
  return keys.has("vocab_size") ? keys.uint("vocab_size") : undefined;
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
    },
    recurrent:
      layout.recurrent === null || layout.recurrentLayers.length === 0
        ? null
        : { layers: layout.recurrentLayers, ...layout.recurrent },
  });
}
