import type { GgufFile } from "../gguf/reader.js";

/** Bytes of all tensors in the file, as llama.cpp loads them (ggml_nbytes, no padding). */
export function weightsBytesOf(file: GgufFile): number {
  return file.tensors.reduce((sum, tensor) => sum + tensor.byteSize, 0);
}
