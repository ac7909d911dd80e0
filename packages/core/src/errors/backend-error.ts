import { HybridLlmError } from "./hybrid-llm-error.js";

const name = "BackendError";
const marker = `hybrid-llm.error.${name}`;
const symbol = Symbol.for(marker);

/** Why a backend operation failed. */
export type BackendErrorCode =
  | "load-failed"
  | "context-failed"
  | "decode-failed"
  | "no-memory-slot"
  | "busy"
  | "aborted"
  | "unavailable"
  | "too-large"
  | "crashed";

/**
 * llama.cpp (or the binding around it) could not do what was asked: the model did not load, the context could
 * not be allocated, a decode failed or found no room, the object is busy, the operation was aborted, the backend
 * is not available on this machine, the model or context does not fit the backend's address space (`too-large`),
 * or the backend's engine crashed (`crashed`: a trap in the Wasm module; dispose the backend and create a new one).
 * The message quotes llama.cpp's own reason where it gave one.
 */
export class BackendError extends HybridLlmError {
  private readonly [symbol] = true;

  /** What failed. */
  readonly code: BackendErrorCode;

  constructor({ code, message, cause }: { code: BackendErrorCode; message: string; cause?: unknown }) {
    super({ name, message, cause });
    this.code = code;
  }

  static override isInstance(error: unknown): error is BackendError {
    return HybridLlmError.hasMarker(error, marker);
  }
}
