import { HybridLlmError } from "./hybrid-llm-error.js";

const name = "InvalidGgufError";
const marker = `hybrid-llm.error.${name}`;
const symbol = Symbol.for(marker);

/**
 * The bytes are not a well-formed GGUF file: bad magic, unsupported version, truncated data, a length field
 * pointing past the end, an unknown value type. `offset` is the byte offset where reading failed.
 */
export class InvalidGgufError extends HybridLlmError {
  private readonly [symbol] = true;

  /** Byte offset in the file at which the problem was found. */
  readonly offset: number;

  constructor({ message, offset, cause }: { message: string; offset: number; cause?: unknown }) {
    super({ name, message: `Invalid GGUF at byte ${offset}: ${message}`, cause });
    this.offset = offset;
  }

  static override isInstance(error: unknown): error is InvalidGgufError {
    return HybridLlmError.hasMarker(error, marker);
  }
}
