/** GGUF metadata value type ids (gguf.h `enum gguf_type`). */
export const GgufValueType = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

/** Name of a scalar GGUF value type. */
export type GgufScalarTypeName = Exclude<keyof typeof GgufValueType, "array">;

/** Size in bytes of each fixed-size scalar type; strings are variable (8-byte length + bytes). */
export const scalarTypeBytes: Readonly<Record<Exclude<GgufScalarTypeName, "string">, number>> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  bool: 1,
  uint64: 8,
  int64: 8,
  float64: 8,
};

export const typeNameById: ReadonlyMap<number, keyof typeof GgufValueType> = new Map(
  Object.entries(GgufValueType).map(([name, id]) => [id, name as keyof typeof GgufValueType]),
);

/**
 * One metadata value, tagged with its GGUF type so that it round-trips through the writer unchanged.
 * 64-bit integers are `bigint`; every other number is a JS number.
 */
export type GgufValue =
  | { readonly type: "uint8" | "int8" | "uint16" | "int16" | "uint32" | "int32" | "float32" | "float64"; readonly value: number }
  | { readonly type: "uint64" | "int64"; readonly value: bigint }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "string"; readonly value: string }
  | GgufArrayValue;

/**
 * An array value: elements share one scalar type. The format could nest arrays, but llama.cpp rejects a file
 * that does, and so do we.
 */
export type GgufArrayValue =
  | {
      readonly type: "array";
      readonly elementType: "uint8" | "int8" | "uint16" | "int16" | "uint32" | "int32" | "float32" | "float64";
      readonly value: readonly number[];
    }
  | { readonly type: "array"; readonly elementType: "uint64" | "int64"; readonly value: readonly bigint[] }
  | { readonly type: "array"; readonly elementType: "bool"; readonly value: readonly boolean[] }
  | { readonly type: "array"; readonly elementType: "string"; readonly value: readonly string[] };
