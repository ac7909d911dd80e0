import { type GgmlTypeInfo, ggmlTypeByName } from "../gguf/ggml-types.js";

/** KV cache element types llama.cpp accepts for `type_k` / `type_v` (as llama-server's `--cache-type-k`). */
export const kvCacheTypes = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl"] as const;

/** One of {@link kvCacheTypes}. */
export type KvCacheType = (typeof kvCacheTypes)[number];

/** Type info for a KV cache type name. */
export function kvCacheTypeInfo(type: KvCacheType): GgmlTypeInfo {
  const info = ggmlTypeByName(type);
  if (info === undefined) throw new Error(`unreachable: ${type} missing from the ggml type table`);
  return info;
}

/** True for the names in {@link kvCacheTypes}. */
export function isKvCacheType(name: string): name is KvCacheType {
  return (kvCacheTypes as readonly string[]).includes(name);
}

/** Whether the type is block-quantized (blocks of more than one element). */
export function isQuantized(type: KvCacheType): boolean {
  return kvCacheTypeInfo(type).blockSize > 1;
}
