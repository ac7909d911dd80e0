import { HybridLlmError } from "./hybrid-llm-error.js";

const name = "QueueFullError";
const marker = `hybrid-llm.error.${name}`;
const symbol = Symbol.for(marker);

/** Every slot is busy and the waiting queue is at its limit: the request was not accepted (retry later). */
export class QueueFullError extends HybridLlmError {
  private readonly [symbol] = true;

  /** The queue's limit. */
  readonly limit: number;

  constructor({ limit }: { limit: number }) {
    super({ name, message: `The request queue is full (${limit} waiting); try again later` });
    this.limit = limit;
  }

  static override isInstance(error: unknown): error is QueueFullError {
    return HybridLlmError.hasMarker(error, marker);
  }
}
