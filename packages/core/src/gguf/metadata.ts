import { ModelMetadataError } from "../errors/model-metadata-error.js";
import type { GgufValue } from "./value-types.js";

/**
 * Typed access to GGUF metadata with llama.cpp's `get_key` / `get_key_or_arr` semantics: a missing optional
 * key gives the default; a wrong type or an array of the wrong length is a {@link ModelMetadataError}, as it
 * is a load failure in llama.cpp.
 */
export class MetadataReader {
  constructor(
    readonly metadata: ReadonlyMap<string, GgufValue>,
    /** Prefix for architecture keys (`general.architecture`), e.g. `nemotron_h`. */
    readonly prefix: string,
  ) {}

  /** `<arch>.<suffix>` */
  key(suffix: string): string {
    return `${this.prefix}.${suffix}`;
  }

  has(suffix: string): boolean {
    return this.metadata.has(this.key(suffix));
  }

  /** A non-negative integer scalar (any integer type). Throws when required and missing. */
  uint(suffix: string, fallback?: number): number {
    const key = this.key(suffix);
    const value = this.metadata.get(key);
    if (value === undefined) {
      if (fallback === undefined) throw new ModelMetadataError({ key, message: "required key is missing" });
      return fallback;
    }
    return toUint(key, value);
  }

  /** A float scalar. */
  float(suffix: string, fallback?: number): number {
    const key = this.key(suffix);
    const value = this.metadata.get(key);
    if (value === undefined) {
      if (fallback === undefined) throw new ModelMetadataError({ key, message: "required key is missing" });
      return fallback;
    }
    if (value.type !== "float32") throw new ModelMetadataError({ key, message: `expected float32, found ${value.type}` });
    return value.value;
  }

  /**
   * llama.cpp's `get_key_or_arr`: a scalar repeated `length` times, or an array of exactly `length` values.
   * Returns `fallback` (per layer) when the key is absent.
   */
  uintPerLayer(suffix: string, length: number, fallback: readonly number[] | undefined): number[] {
    const key = this.key(suffix);
    const value = this.metadata.get(key);
    if (value === undefined) {
      if (fallback === undefined) throw new ModelMetadataError({ key, message: "required key is missing" });
      return [...fallback];
    }
    if (value.type !== "array") return new Array<number>(length).fill(toUint(key, value));
    if (value.value.length !== length) {
      throw new ModelMetadataError({ key, message: `array has ${value.value.length} values, expected ${length}` });
    }
    return value.value.map((element: unknown) => arrayElementToUint(key, value.elementType, element));
  }

  /** Per-layer booleans (array of bool or of integers), or undefined when absent. */
  boolPerLayer(suffix: string, length: number): boolean[] | undefined {
    const key = this.key(suffix);
    const value = this.metadata.get(key);
    if (value === undefined) return undefined;
    if (value.type !== "array") {
      throw new ModelMetadataError({ key, message: `expected an array, found ${value.type}` });
    }
    if (value.value.length !== length) {
      throw new ModelMetadataError({ key, message: `array has ${value.value.length} values, expected ${length}` });
    }
    return value.value.map((element: unknown) => arrayElementToUint(key, value.elementType, element) !== 0);
  }
}

// llama.cpp reads these keys into uint32_t and checks the stored type exactly: a scalar must be uint32; array
// elements may be uint32, int32 or bool (llama-model-loader.cpp, GKV and get_arr).
function toUint(key: string, value: GgufValue): number {
  if (value.type === "uint32") return value.value;
  throw new ModelMetadataError({ key, message: `expected uint32, found ${value.type}` });
}

function arrayElementToUint(key: string, elementType: string, element: unknown): number {
  if (elementType === "uint32" && typeof element === "number") return element;
  if (elementType === "int32" && typeof element === "number") {
    if (element < 0) throw new ModelMetadataError({ key, message: `negative value ${element}` });
    return element;
  }
  if (elementType === "bool") return element === true ? 1 : 0;
  throw new ModelMetadataError({ key, message: `array elements must be uint32, int32 or bool, found ${elementType}` });
}

/** `general.architecture`, or a {@link ModelMetadataError}. */
export function architectureOf(metadata: ReadonlyMap<string, GgufValue>): string {
  const value = metadata.get("general.architecture");
  if (value === undefined) throw new ModelMetadataError({ key: "general.architecture", message: "required key is missing" });
  if (value.type !== "string") {
    throw new ModelMetadataError({ key: "general.architecture", message: `expected a string, found ${value.type}` });
  }
  return value.value;
}
