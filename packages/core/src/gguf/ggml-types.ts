/**
 * ggml tensor types as stored in GGUF tensor infos, with their block geometry (elements per block, bytes per
 * block), from ggml/include/ggml.h and ggml/src/ggml-common.h of the bundled llama.cpp (v0.4.0). Removed
 * types (4, 5, 31–33, 36–38) are absent: llama.cpp rejects them.
 */
export interface GgmlTypeInfo {
  /** The numeric id stored in the file. */
  readonly id: number;
  /** ggml's lower-case name (`f16`, `q8_0`, `q4_K`, …). */
  readonly name: string;
  /** Elements per quantization block (1 for plain types). */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly blockBytes: number;
}

const table: readonly GgmlTypeInfo[] = [
  { id: 0, name: "f32", blockSize: 1, blockBytes: 4 },
  { id: 1, name: "f16", blockSize: 1, blockBytes: 2 },
  { id: 2, name: "q4_0", blockSize: 32, blockBytes: 18 },
  { id: 3, name: "q4_1", blockSize: 32, blockBytes: 20 },
  { id: 6, name: "q5_0", blockSize: 32, blockBytes: 22 },
  { id: 7, name: "q5_1", blockSize: 32, blockBytes: 24 },
  { id: 8, name: "q8_0", blockSize: 32, blockBytes: 34 },
  { id: 9, name: "q8_1", blockSize: 32, blockBytes: 36 },
  { id: 10, name: "q2_K", blockSize: 256, blockBytes: 84 },
  { id: 11, name: "q3_K", blockSize: 256, blockBytes: 110 },
  { id: 12, name: "q4_K", blockSize: 256, blockBytes: 144 },
  { id: 13, name: "q5_K", blockSize: 256, blockBytes: 176 },
  { id: 14, name: "q6_K", blockSize: 256, blockBytes: 210 },
  { id: 15, name: "q8_K", blockSize: 256, blockBytes: 292 },
  { id: 16, name: "iq2_xxs", blockSize: 256, blockBytes: 66 },
  { id: 17, name: "iq2_xs", blockSize: 256, blockBytes: 74 },
  { id: 18, name: "iq3_xxs", blockSize: 256, blockBytes: 98 },
  { id: 19, name: "iq1_s", blockSize: 256, blockBytes: 50 },
  { id: 20, name: "iq4_nl", blockSize: 32, blockBytes: 18 },
  { id: 21, name: "iq3_s", blockSize: 256, blockBytes: 110 },
  { id: 22, name: "iq2_s", blockSize: 256, blockBytes: 82 },
  { id: 23, name: "iq4_xs", blockSize: 256, blockBytes: 136 },
  { id: 24, name: "i8", blockSize: 1, blockBytes: 1 },
  { id: 25, name: "i16", blockSize: 1, blockBytes: 2 },
  { id: 26, name: "i32", blockSize: 1, blockBytes: 4 },
  { id: 27, name: "i64", blockSize: 1, blockBytes: 8 },
  { id: 28, name: "f64", blockSize: 1, blockBytes: 8 },
  { id: 29, name: "iq1_m", blockSize: 256, blockBytes: 56 },
  { id: 30, name: "bf16", blockSize: 1, blockBytes: 2 },
  { id: 34, name: "tq1_0", blockSize: 256, blockBytes: 54 },
  { id: 35, name: "tq2_0", blockSize: 256, blockBytes: 66 },
  { id: 39, name: "mxfp4", blockSize: 32, blockBytes: 17 },
  { id: 40, name: "nvfp4", blockSize: 64, blockBytes: 36 },
  { id: 41, name: "q1_0", blockSize: 128, blockBytes: 18 },
  { id: 42, name: "q2_0", blockSize: 64, blockBytes: 18 },
];

const byId = new Map(table.map((t) => [t.id, t]));
const byName = new Map(table.map((t) => [t.name.toLowerCase(), t]));

/** The type with this numeric id, or undefined for an id llama.cpp does not know. */
export function ggmlTypeById(id: number): GgmlTypeInfo | undefined {
  return byId.get(id);
}

/** The type with this name (case-insensitive: `Q8_0`, `q8_0`), or undefined. */
export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  return byName.get(name.toLowerCase());
}

/**
 * Bytes of one row of `elements` values (ggml_row_size), or undefined when the row is not a whole number of
 * blocks — ggml cannot store such a row.
 */
export function ggmlRowBytes(type: GgmlTypeInfo, elements: number): number | undefined {
  if (elements % type.blockSize !== 0) return undefined;
  return (elements / type.blockSize) * type.blockBytes;
}
