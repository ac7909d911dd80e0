import type { CacheSpec } from "../cache/cache-spec.js";
import { cacheSpecFromMetadata } from "../gguf/model-cache-spec.js";
import type { GgufFile } from "../gguf/reader.js";
import { type MemoryPlan, type MemoryPlanOptions, planMemory } from "./memory-plan.js";

/** A parsed GGUF file, or a cache spec alone (presets: no weights known). */
export type ModelPlanInput = { readonly file: GgufFile } | { readonly spec: CacheSpec };

/** Bytes of all tensors in the file, as llama.cpp loads them (ggml_nbytes, no padding). */
export function weightsBytesOf(file: GgufFile): number {
  return file.tensors.reduce((sum, tensor) => sum + tensor.byteSize, 0);
}

/** {@link planMemory} for a model file or preset; adds `weightsBytes` when the tensors are known. */
export function planModelMemory(
  input: ModelPlanInput,
  options: MemoryPlanOptions,
): MemoryPlan & { readonly spec: CacheSpec; readonly weightsBytes: number | undefined } {
  const spec = "spec" in input ? input.spec : cacheSpecFromMetadata(input.file.metadata);
  const weightsBytes = "file" in input ? weightsBytesOf(input.file) : undefined;
  return { ...planMemory(spec, options), spec, weightsBytes };
}
