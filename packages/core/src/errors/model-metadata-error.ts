import { HybridLlmError } from "./hybrid-llm-error.js";

const name = "ModelMetadataError";
const marker = `hybrid-llm.error.${name}`;
const symbol = Symbol.for(marker);

/**
 * The GGUF is well-formed but its metadata does not describe a model llama.cpp would load: a required key is
 * missing, has the wrong type, or holds a value out of range (e.g. a per-layer array of the wrong length).
 */
export class ModelMetadataError extends HybridLlmError {
  private readonly [symbol] = true;

  /** The metadata key at fault. */
  readonly key: string;

  constructor({ key, message }: { key: string; message: string }) {
    super({ name, message: `Model metadata "${key}": ${message}` });
    this.key = key;
  }

  static override isInstance(error: unknown): error is ModelMetadataError {
    return HybridLlmError.hasMarker(error, marker);
  }
}
