import { HybridLlmError } from "./hybrid-llm-error.js";

const name = "DisposedError";
const marker = `hybrid-llm.error.${name}`;
const symbol = Symbol.for(marker);

/** A model, context or backend was used after `dispose()`. */
export class DisposedError extends HybridLlmError {
  private readonly [symbol] = true;

  /** What was disposed (`model`, `context`, `backend`). */
  readonly object: string;

  constructor({ object }: { object: string }) {
    super({ name, message: `The ${object} was disposed` });
    this.object = object;
  }

  static override isInstance(error: unknown): error is DisposedError {
    return HybridLlmError.hasMarker(error, marker);
  }
}
