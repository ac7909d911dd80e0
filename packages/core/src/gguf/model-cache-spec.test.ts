import { describe, expect, test } from "vitest";
import { catchError } from "../testing/catch-error.js";
import { ModelMetadataError } from "../errors/model-metadata-error.js";
import { UnsupportedArchitectureError } from "../errors/unsupported-architecture-error.js";
import { cacheSpecFromMetadata } from "./model-cache-spec.js";
import type { GgufValue } from "./value-types.js";

const meta = (entries: Record<string, GgufValue>) => new Map(Object.entries(entries));
const u32 = (value: number): GgufValue => ({ type: "uint32", value });
/** A minimal valid Mamba2 (purely recurrent) model's metadata. */
const mamba2 = {
  "general.architecture": { type: "string", value: "mamba2" } as GgufValue,
  "mamba2.block_count": u32(2),
  "mamba2.context_length": u32(4096),
  "mamba2.embedding_length": u32(64),
  "mamba2.ssm.conv_kernel": u32(4),
  "mamba2.ssm.inner_size": u32(128),
  "mamba2.ssm.state_size": u32(16),
  "mamba2.ssm.time_step_rank": u32(4),
  "mamba2.ssm.group_count": u32(1),
};

describe("cacheSpecFromMetadata", () => {
  test("an unknown architecture is an UnsupportedArchitectureError naming it", () => {
    const error = catchError(() => cacheSpecFromMetadata(meta({ "general.architecture": { type: "string", value: "rwkv7" } })));
    expect(UnsupportedArchitectureError.isInstance(error)).toBe(true);
    expect((error as UnsupportedArchitectureError).architecture).toBe("rwkv7");
    expect((error as Error).message).toMatch(/Unsupported model architecture "rwkv7". Supported: nemotron_h, nemotron_h_moe, /);
  });

  test("a missing required key, a wrong type, a wrong array length: ModelMetadataError naming the key", () => {
    const base = mamba2;
    const spec = cacheSpecFromMetadata(meta(base));
    expect(spec.kind).toBe("recurrent");
    expect(spec.attention.layers).toEqual([]);
    expect(spec.recurrent).toEqual({ layers: [0, 1], family: "mamba2", convElements: 3 * (128 + 32), stateElements: 16 * 128 });

    const { "mamba2.ssm.state_size": _, ...missing } = base;
    expect(() => cacheSpecFromMetadata(meta(missing))).toThrow(/Model metadata "mamba2.ssm.state_size": required key is missing/);
    const wrongType = catchError(() => cacheSpecFromMetadata(meta({ ...base, "mamba2.block_count": { type: "int32", value: 2 } })));
    expect(ModelMetadataError.isInstance(wrongType)).toBe(true);
    expect((wrongType as ModelMetadataError).key).toBe("mamba2.block_count");
    expect(() =>
      cacheSpecFromMetadata(meta({ ...base, "mamba2.attention.head_count_kv": { type: "array", elementType: "uint32", value: [1, 2, 3] } })),
    ).toThrow(/array has 3 values, expected 2/);
    expect(() => cacheSpecFromMetadata(meta({ ...base, "mamba2.block_count": u32(0) }))).toThrow(/block_count/);
  });

  test("metadata llama.cpp's loader asserts on (an abort of the process) is refused first: vocabulary and experts", () => {
    const base: Record<string, GgufValue> = {
      ...mamba2,
      "tokenizer.ggml.tokens": { type: "array", elementType: "string", value: ["a", "b", "c"] },
      "tokenizer.ggml.scores": { type: "array", elementType: "float32", value: [0, 0, 0] },
    };
    expect(cacheSpecFromMetadata(meta(base)).vocabSize).toBe(3);
    const refused = (entries: Record<string, GgufValue>, pattern: RegExp) => {
      const error = catchError(() => cacheSpecFromMetadata(meta({ ...base, ...entries })));
      expect(ModelMetadataError.isInstance(error), JSON.stringify(entries)).toBe(true);
      expect((error as Error).message).toMatch(pattern);
    };
    refused({ "tokenizer.ggml.tokens": { type: "array", elementType: "string", value: ["a", "b", "a"] } }, /appear more than once/);
    refused({ "tokenizer.ggml.scores": { type: "array", elementType: "float32", value: [0, 0] } }, /one entry per token \(3\)/);
    refused({ "mamba2.expert_count": u32(8), "mamba2.expert_used_count": u32(0) }, /expert_used_count.*at least 1/);
    refused({ "mamba2.expert_count": u32(8), "mamba2.expert_used_count": u32(9) }, /exceeds expert_count 8/);
    refused({ "mamba2.expert_count": u32(2048), "mamba2.expert_used_count": u32(2) }, /exceeds 1024/);
    refused({ "mamba2.expert_used_count": u32(2) }, /exceeds expert_count 0/);
    refused({ "mamba2.expert_count": u32(8), "mamba2.expert_used_count": u32(2), "mamba2.expert_group_count": u32(3), "mamba2.expert_group_used_count": u32(1) }, /must divide/);
    expect(cacheSpecFromMetadata(meta({ ...base, "mamba2.expert_count": u32(8), "mamba2.expert_used_count": u32(2) })).vocabSize).toBe(3);
  });

  test("Qwen3-Next: full attention every 4th layer unless recurrent_layers says otherwise; MTP blocks excluded", () => {
    const base: Record<string, GgufValue> = {
      "general.architecture": { type: "string", value: "qwen3next" },
      "qwen3next.block_count": u32(9),
      "qwen3next.nextn_predict_layers": u32(1),
      "qwen3next.context_length": u32(4096),
      "qwen3next.embedding_length": u32(64),
      "qwen3next.attention.head_count": u32(4),
      "qwen3next.attention.head_count_kv": u32(2),
      "qwen3next.attention.key_length": u32(32),
      "qwen3next.attention.value_length": u32(32),
      "qwen3next.ssm.conv_kernel": u32(4),
      "qwen3next.ssm.inner_size": u32(64),
      "qwen3next.ssm.state_size": u32(16),
      "qwen3next.ssm.time_step_rank": u32(4),
      "qwen3next.ssm.group_count": u32(2),
    };
    const spec = cacheSpecFromMetadata(meta(base));
    expect(spec.attention.layers.map((l) => l.layer)).toEqual([3, 7]);
    expect(spec.recurrent?.layers).toEqual([0, 1, 2, 4, 5, 6]);
    const explicit = cacheSpecFromMetadata(
      meta({ ...base, "qwen3next.attention.recurrent_layers": { type: "array", elementType: "bool", value: [true, false, true, true, true, true, true, false, false] } }),
    );
    expect(explicit.attention.layers.map((l) => l.layer)).toEqual([1, 7]);
  });
});
