import { HybridLlmError } from "./hybrid-llm-error.js";

const name = "InvalidArgumentError";
const marker = `hybrid-llm.error.${name}`;
const symbol = Symbol.for(marker);

/**
 * A call was refused before (or by) llama.cpp because an argument is malformed: a batch longer than the context's
 * batch size, a sequence id outside the slots, positions out of order, a token outside the vocabulary.
 * Nothing was changed.
 */
export class InvalidArgumentError extends HybridLlmError {
  private readonly [symbol] = true;

  /** The argument at fault (`batch`, `sequenceIds`, `positions`, `tokens`, …). */
  readonly argument: string;

  constructor({ argument, message, cause }: { argument: string; message: string; cause?: unknown }) {
    super({ name, message, cause });
    this.argument = argument;
  }

  static override isInstance(error: unknown): error is InvalidArgumentError {
    return HybridLlmError.hasMarker(error, marker);
  }
}
