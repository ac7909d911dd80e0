import { falconH1Model } from "../fixtures/falcon-h1.js";
import { graniteHybridModel } from "../fixtures/granite-hybrid.js";
import { jambaModel } from "../fixtures/jamba.js";
import { kimiLinearModel } from "../fixtures/kimi-linear.js";
import { lfm2Model } from "../fixtures/lfm2.js";
import { llamaModel } from "../fixtures/llama.js";
import type { FixtureModel, Mamba2MixerShape } from "../fixtures/model-builder.js";
import { nemotronHModel } from "../fixtures/nemotron-h.js";
import { qwen3NextModel } from "../fixtures/qwen3next.js";
import { SeededRandom } from "../fixtures/random.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import publishedModels from "./published-models.json" with { type: "json" };
import type { PublishedModel } from "./presets.js";

/**
 * Weightless twins of the published presets: each preset's real hyperparameters and tensor shapes, described by the
 * fixture family builders (fixtures/*.ts) at full size. Only the descriptions are used (header + sparse data, see
 * `writeWeightlessGguf` in `@hybrid-llm/core/node`): no weight is ever drawn. llama.cpp loads such a file with
 * `no_alloc` and reports what a context would allocate at the real dimensions.
 *
 * The memory-deciding keys come from the preset's sourced `hf` config; the widths that decide only weights and
 * compute buffers (vocabulary, FFN, experts) come from its `twin` entry.
 */

type Hf = Record<string, unknown>;
interface Twin {
  vocab_size: number;
  intermediate_size?: number;
  experts?: { count: number; used: number; feed_forward?: number; shared_feed_forward?: number; dense_lead?: number };
}

/** The Mamba2 mixer of a Hugging Face config that names it Granite 4.0-H / Falcon-H1 style (`mamba_*` keys). */
function mamba2MixerOf(hf: Hf): Pick<Mamba2MixerShape, "mambaHeads" | "mambaHeadDim" | "stateSize" | "groups" | "convKernel"> {
  return {
    mambaHeads: num(hf, "mamba_n_heads"),
    mambaHeadDim: num(hf, "mamba_d_head"),
    stateSize: num(hf, "mamba_d_state"),
    groups: num(hf, "mamba_n_groups"),
    convKernel: num(hf, "mamba_d_conv"),
  };
}

const num = (hf: Hf, key: string): number => {
  const value = hf[key];
  if (typeof value !== "number") throw new Error(`preset config lacks numeric ${key}`);
  return value;
};
const patternOf = (layers: number, isAttention: (il: number) => boolean, attention: string, other: string) =>
  Array.from({ length: layers }, (_, il) => (isAttention(il) ? attention : other)).join("");

function twinModel(model: PublishedModel): FixtureModel {
  const hf = model.hf as Hf;
  const twin = (model as { twin: Twin }).twin;
  const random = new SeededRandom(1); // never drawn from: only the tensor descriptions are written
  const name = `hybrid-llm weightless twin of ${model.name}`;
  const layers = num(hf, "num_hidden_layers");
  const E = num(hf, "hidden_size");
  const H = num(hf, "num_attention_heads");
  const Hkv = num(hf, "num_key_value_heads");
  const headDim = typeof hf.head_dim === "number" ? hf.head_dim : E / H;
  const ffn = twin.intermediate_size ?? 0;
  const V = twin.vocab_size;
  const ctx = model.gguf_ctx_train;
  const x = twin.experts;
  switch (model.arch) {
    case "nemotron_h":
    case "nemotron_h_moe":
      return nemotronHModel(
        {
          architecture: model.arch,
          pattern: String(hf.hybrid_override_pattern),
          embedding: E,
          headCount: H,
          headCountKv: Hkv,
          headDim,
          feedForward: ffn,
          mambaHeads: num(hf, "mamba_num_heads"),
          mambaHeadDim: num(hf, "mamba_head_dim"),
          stateSize: num(hf, "ssm_state_size"),
          groups: num(hf, "n_groups"),
          convKernel: num(hf, "conv_kernel"),
          contextLength: ctx,
          vocabSize: V,
          ...(x === undefined ? {} : { experts: { count: x.count, used: x.used, feedForward: x.feed_forward ?? 0, sharedFeedForward: x.shared_feed_forward ?? 0 } }),
        },
        random,
        name,
      );
    case "qwen3next":
    case "qwen35":
    case "qwen35moe":
      return qwen3NextModel(
        {
          architecture: model.arch,
          layers,
          fullAttentionInterval: num(hf, "full_attention_interval"),
          embedding: E,
          headCount: H,
          headCountKv: Hkv,
          headDim,
          keyHeads: num(hf, "linear_num_key_heads"),
          valueHeads: num(hf, "linear_num_value_heads"),
          stateSize: num(hf, "linear_key_head_dim"),
          convKernel: num(hf, "linear_conv_kernel_dim"),
          ...(twin.intermediate_size === undefined ? {} : { feedForward: twin.intermediate_size }),
          ...(x === undefined ? {} : { experts: { count: x.count, used: x.used, feedForward: x.feed_forward ?? 0, sharedFeedForward: x.shared_feed_forward ?? 0 } }),
          contextLength: ctx,
          vocabSize: V,
        },
        random,
        name,
      );
    case "kimi_linear": {
      const linear = hf.linear_attn_config as { full_attn_layers: number[]; head_dim: number; short_conv_kernel_size: number };
      const full = new Set(linear.full_attn_layers.map((layer) => layer - 1));
      return kimiLinearModel(
        {
          pattern: patternOf(layers, (il) => full.has(il), "*", "K"),
          embedding: E,
          headCount: H,
          kdaHeadDim: linear.head_dim,
          convKernel: linear.short_conv_kernel_size,
          mla: { kvLoraRank: num(hf, "kv_lora_rank"), ropeDim: num(hf, "qk_rope_head_dim"), nopeDim: num(hf, "qk_nope_head_dim"), valueDim: num(hf, "v_head_dim") },
          feedForward: ffn,
          experts: { count: x?.count ?? 0, used: x?.used ?? 0, feedForward: x?.feed_forward ?? 0, denseLead: x?.dense_lead ?? 0 },
          contextLength: ctx,
          vocabSize: V,
        },
        random,
        name,
      );
    }
    case "granitehybrid": {
      const attention = new Set(hf.layer_types_attention_idx as number[]);
      return graniteHybridModel(
        {
          pattern: patternOf(layers, (il) => attention.has(il), "*", "M"),
          embedding: E,
          headCount: H,
          headCountKv: Hkv,
          headDim,
          feedForward: ffn,
          ...mamba2MixerOf(hf),
          contextLength: ctx,
          vocabSize: V,
        },
        random,
        name,
      );
    }
    case "lfm2":
    case "lfm2moe": {
      const attention = new Set(hf.full_attn_idxs as number[]);
      return lfm2Model(
        {
          architecture: model.arch,
          pattern: patternOf(layers, (il) => attention.has(il), "*", "C"),
          embedding: E,
          headCount: H,
          headCountKv: Hkv,
          feedForward: ffn,
          lCache: num(hf, "conv_L_cache"),
          contextLength: ctx,
          vocabSize: V,
          ...(x === undefined ? {} : { experts: { count: x.count, used: x.used, feedForward: x.feed_forward ?? 0, denseLead: x.dense_lead ?? 0 } }),
        },
        random,
        name,
      );
    }
    case "falcon_h1":
      return falconH1Model(
        {
          layers,
          embedding: E,
          headCount: H,
          headCountKv: Hkv,
          headDim,
          feedForward: ffn,
          ...mamba2MixerOf(hf),
          contextLength: ctx,
          vocabSize: V,
        },
        random,
        name,
      );
    case "jamba": {
      const period = num(hf, "attn_layer_period");
      const offset = num(hf, "attn_layer_offset");
      return jambaModel(
        {
          pattern: patternOf(layers, (il) => il % period === offset, "*", "M"),
          embedding: E,
          headCount: H,
          headCountKv: Hkv,
          feedForward: ffn,
          stateSize: num(hf, "mamba_d_state"),
          timeStepRank: num(hf, "mamba_dt_rank"),
          convKernel: num(hf, "mamba_d_conv"),
          experts: { count: x?.count ?? 0, used: x?.used ?? 0 },
          contextLength: ctx,
          vocabSize: V,
        },
        random,
        name,
      );
    }
    case "llama":
      return llamaModel({ layers, embedding: E, headCount: H, headCountKv: Hkv, headDim, feedForward: ffn, contextLength: ctx, vocabSize: V }, random, name);
    default:
      throw new Error(`no weightless twin for architecture ${model.arch}`);
  }
}

/**
 * The weightless twin of a preset: GGUF metadata and tensor descriptions (no data) at the real model's dimensions.
 *
 * @throws InvalidArgumentError for an unknown preset id.
 */
export function presetTwin(id: string): FixtureModel {
  const model = publishedModels.models.find((candidate) => candidate.id === id);
  if (model === undefined) {
    throw new InvalidArgumentError({ argument: "preset", message: `unknown preset "${String(id)}" (one of ${publishedModels.models.map((m) => m.id).join(", ")})` });
  }
  return twinModel(model);
}
