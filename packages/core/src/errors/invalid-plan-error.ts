import { HybridLlmError } from "./hybrid-llm-error.js";

const name = "InvalidPlanError";
const marker = `hybrid-llm.error.${name}`;
const symbol = Symbol.for(marker);

/**
 * A memory plan was asked for options llama.cpp would reject or that cannot be satisfied: ctx or slots of 0,
 * more slots than llama.cpp's 256 sequences, a quantized KV type whose 32-element blocks do not divide a row,
 * a budget too small for even the smallest configuration.
 */
export class InvalidPlanError extends HybridLlmError {
  private readonly [symbol] = true;

  /** The option at fault (`ctx`, `slots`, `kvType`, `budget`, …). */
  readonly option: string;

  constructor({ option, message }: { option: string; message: string }) {
    super({ name, message });
    this.option = option;
  }

  static override isInstance(error: unknown): error is InvalidPlanError {
    return HybridLlmError.hasMarker(error, marker);
  }
}
