import { HybridLlmError } from "./hybrid-llm-error.js";

const name = "InvalidSessionError";
const marker = `hybrid-llm.error.${name}`;
const symbol = Symbol.for(marker);

/** Why a saved session cannot be restored. */
export type InvalidSessionReason = "corrupt" | "version" | "model" | "geometry" | "too-long";

/**
 * A saved session was refused before anything was loaded: its bytes are damaged or truncated (`corrupt`), it was
 * written by an unknown format version (`version`), by another model (`model`), for a cache of another shape — KV
 * types, recurrent state size — (`geometry`), or it holds more tokens than one sequence of this context
 * (`too-long`).
 */
export class InvalidSessionError extends HybridLlmError {
  private readonly [symbol] = true;

  readonly reason: InvalidSessionReason;

  constructor({ reason, message }: { reason: InvalidSessionReason; message: string }) {
    super({ name, message });
    this.reason = reason;
  }

  static override isInstance(error: unknown): error is InvalidSessionError {
    return HybridLlmError.hasMarker(error, marker);
  }
}
