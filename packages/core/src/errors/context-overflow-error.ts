import { HybridLlmError } from "./hybrid-llm-error.js";

const name = "ContextOverflowError";
const marker = `hybrid-llm.error.${name}`;
const symbol = Symbol.for(marker);

/** A prompt does not fit the context one sequence may use (or the whole pool): refused before any work. */
export class ContextOverflowError extends HybridLlmError {
  private readonly [symbol] = true;

  /** Tokens the request needs at least. */
  readonly needed: number;
  /** Tokens one sequence can hold. */
  readonly available: number;

  constructor({ needed, available }: { needed: number; available: number }) {
    super({ name, message: `The prompt needs ${needed} tokens of context but a sequence can hold at most ${available}` });
    this.needed = needed;
    this.available = available;
  }

  static override isInstance(error: unknown): error is ContextOverflowError {
    return HybridLlmError.hasMarker(error, marker);
  }
}
