import type { CacheSpec } from "../cache/cache-spec.js";
import { cacheSpecFromMetadata } from "../gguf/model-cache-spec.js";
import type { GgufValue } from "../gguf/value-types.js";
import publishedModels from "./published-models.json" with { type: "json" };

/**
 * Presets: real models' published configurations (`published-models.json`, with sources), turned into the GGUF
 * metadata llama.cpp's converter writes for them, then into cache specs by the same code that reads real files.
 */

/** One published model configuration. */
export interface ModelPreset {
  /** Stable id (`nemotron3-nano-30b-a3b`). */
  readonly id: string;
  /** Human name. */
  readonly name: string;
  /** llama.cpp architecture. */
  readonly architecture: string;
  /** The cache spec of the model. */
  readonly spec: CacheSpec;
  /** Where the hyperparameters come from. */
  readonly sources: readonly string[];
}

type HfConfig = Record<string, unknown>;
export type PublishedModel = (typeof publishedModels.models)[number];

const u32 = (value: number): GgufValue => ({ type: "uint32", value });
const u32s = (values: number[]): GgufValue => ({ type: "array", elementType: "uint32", value: values });
const num = (hf: HfConfig, key: string): number => {
  const value = hf[key];
  if (typeof value !== "number") throw new Error(`preset config lacks numeric ${key}`);
  return value;
};
const perLayer = (n: number, f: (il: number) => number) => Array.from({ length: n }, (_, il) => f(il));

/** convert_hf_to_gguf.py, per architecture: the keys that decide memory. */
function ggufKeys(model: PublishedModel): Record<string, GgufValue> {
  const hf = model.hf as HfConfig;
  const layers = num(hf, "num_hidden_layers");
  const kvHeads = num(hf, "num_key_value_heads");
  const keys: Record<string, GgufValue> = {
    block_count: u32(layers),
    context_length: u32(model.gguf_ctx_train),
    embedding_length: u32(num(hf, "hidden_size")),
    "attention.head_count": u32(num(hf, "num_attention_heads")),
  };
  if (typeof hf.head_dim === "number") {
    keys["attention.key_length"] = u32(hf.head_dim);
    keys["attention.value_length"] = u32(hf.head_dim);
  }
  const ssm = (conv: number, inner: number, state: number, rank: number, groups?: number) => {
    keys["ssm.conv_kernel"] = u32(conv);
    keys["ssm.inner_size"] = u32(inner);
    keys["ssm.state_size"] = u32(state);
    keys["ssm.time_step_rank"] = u32(rank);
    if (groups !== undefined) keys["ssm.group_count"] = u32(groups);
  };
  switch (model.arch) {
    case "nemotron_h":
    case "nemotron_h_moe": {
      // M = Mamba2, * = attention, - = MLP, E = MoE; only "is there an FFN" matters for memory.
      const pattern = String(hf.hybrid_override_pattern);
      keys["attention.head_count_kv"] = u32s(perLayer(layers, (il) => (pattern[il] === "*" ? kvHeads : 0)));
      keys.feed_forward_length = u32s(perLayer(layers, (il) => (pattern[il] === "-" || pattern[il] === "E" ? 1 : 0)));
      const heads = num(hf, "mamba_num_heads");
      ssm(num(hf, "conv_kernel"), heads * num(hf, "mamba_head_dim"), num(hf, "ssm_state_size"), heads, num(hf, "n_groups"));
      break;
    }
    case "qwen3next":
    case "qwen35":
    case "qwen35moe": {
      keys["attention.head_count_kv"] = u32(kvHeads);
      keys.full_attention_interval = u32(num(hf, "full_attention_interval"));
      const valueHeads = num(hf, "linear_num_value_heads");
      ssm(
        num(hf, "linear_conv_kernel_dim"),
        num(hf, "linear_value_head_dim") * valueHeads,
        num(hf, "linear_key_head_dim"),
        valueHeads,
        num(hf, "linear_num_key_heads"),
      );
      break;
    }
    case "kimi_linear": {
      // convert: MLA is MQA-ized (one KV head), key_length = kv_lora_rank + qk_rope_head_dim, no V cache.
      const linear = hf.linear_attn_config as { full_attn_layers: number[]; head_dim: number; short_conv_kernel_size: number };
      const fullAttention = new Set(linear.full_attn_layers.map((layer) => layer - 1)); // 1-based in the HF config
      keys["attention.head_count_kv"] = u32s(perLayer(layers, (il) => (fullAttention.has(il) ? 1 : 0)));
      keys["attention.key_length"] = u32(num(hf, "kv_lora_rank") + num(hf, "qk_rope_head_dim"));
      keys["attention.value_length"] = u32(num(hf, "kv_lora_rank"));
      keys["attention.key_length_mla"] = u32(num(hf, "qk_nope_head_dim") + num(hf, "qk_rope_head_dim"));
      keys["attention.value_length_mla"] = u32(num(hf, "v_head_dim"));
      keys["attention.kv_lora_rank"] = u32(num(hf, "kv_lora_rank"));
      keys["ssm.conv_kernel"] = u32(linear.short_conv_kernel_size);
      keys["kda.head_dim"] = u32(linear.head_dim);
      break;
    }
    case "granitehybrid": {
      const attention = new Set(hf.layer_types_attention_idx as number[]);
      keys["attention.head_count_kv"] = u32s(perLayer(layers, (il) => (attention.has(il) ? kvHeads : 0)));
      const heads = num(hf, "mamba_n_heads");
      ssm(num(hf, "mamba_d_conv"), heads * num(hf, "mamba_d_head"), num(hf, "mamba_d_state"), heads, num(hf, "mamba_n_groups"));
      break;
    }
    case "lfm2":
    case "lfm2moe": {
      const attention = new Set(hf.full_attn_idxs as number[]);
      keys["attention.head_count_kv"] = u32s(perLayer(layers, (il) => (attention.has(il) ? kvHeads : 0)));
      keys["shortconv.l_cache"] = u32(num(hf, "conv_L_cache"));
      break;
    }
    case "falcon_h1": {
      keys["attention.head_count_kv"] = u32(kvHeads);
      ssm(num(hf, "mamba_d_conv"), num(hf, "mamba_d_ssm"), num(hf, "mamba_d_state"), num(hf, "mamba_n_heads"), num(hf, "mamba_n_groups"));
      break;
    }
    case "jamba": {
      const period = num(hf, "attn_layer_period");
      const offset = num(hf, "attn_layer_offset");
      keys["attention.head_count_kv"] = u32s(perLayer(layers, (il) => (il % period === offset ? kvHeads : 0)));
      ssm(num(hf, "mamba_d_conv"), num(hf, "mamba_expand") * num(hf, "hidden_size"), num(hf, "mamba_d_state"), num(hf, "mamba_dt_rank"));
      break;
    }
    default:
      keys["attention.head_count_kv"] = u32(kvHeads);
  }
  return keys;
}

/** llama.cpp's architecture names where models.json uses the Python-side spelling. */
const llamaCppArchitecture: Record<string, string> = { kimi_linear: "kimi-linear", falcon_h1: "falcon-h1" };

function presetOf(model: PublishedModel): ModelPreset {
  const architecture = llamaCppArchitecture[model.arch] ?? model.arch;
  const metadata = new Map<string, GgufValue>([["general.architecture", { type: "string", value: architecture }]]);
  for (const [key, value] of Object.entries(ggufKeys(model))) metadata.set(`${architecture}.${key}`, value);
  return { id: model.id, name: model.name, architecture, spec: cacheSpecFromMetadata(metadata), sources: model.src };
}

let presets: readonly ModelPreset[] | undefined;

/** Every preset, in the order of `published-models.json`. */
export function modelPresets(): readonly ModelPreset[] {
  presets ??= publishedModels.models.map(presetOf);
  return presets;
}

/** The preset with this id, or undefined. */
export function modelPreset(id: string): ModelPreset | undefined {
  return modelPresets().find((preset) => preset.id === id);
}
