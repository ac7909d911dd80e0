import { BackendError, type BackendErrorCode } from "../errors/backend-error.js";
import { DisposedError } from "../errors/disposed-error.js";
import { HybridLlmError } from "../errors/hybrid-llm-error.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";

const backendCodes: Record<string, BackendErrorCode> = {
  HYBRID_LLM_LOAD_FAILED: "load-failed",
  HYBRID_LLM_CONTEXT_FAILED: "context-failed",
  HYBRID_LLM_DECODE_FAILED: "decode-failed",
  HYBRID_LLM_NO_MEMORY_SLOT: "no-memory-slot",
  HYBRID_LLM_BUSY: "busy",
  HYBRID_LLM_ABORTED: "aborted",
  HYBRID_LLM_NOT_INITIALIZED: "unavailable",
  HYBRID_LLM_CRASHED: "crashed",
};

/**
 * Turns an error thrown by the binding into the project's typed errors. llama_decode's status -1 means llama.cpp
 * refused the batch itself (e.g. positions that do not continue the sequence): an InvalidArgumentError.
 */
export function toTypedError(error: unknown, object: string): Error {
  if (HybridLlmError.isInstance(error)) return error;
  if (!(error instanceof Error)) return new BackendError({ code: "decode-failed", message: String(error) });
  const code = (error as { code?: unknown }).code;
  const status = (error as { status?: unknown }).status;
  if (code === "HYBRID_LLM_DISPOSED") return new DisposedError({ object });
  if (code === "HYBRID_LLM_INVALID_ARGUMENT" || (code === "HYBRID_LLM_DECODE_FAILED" && status === -1)) {
    return new InvalidArgumentError({ argument: "batch", message: error.message, cause: error });
  }
  if (typeof code === "string" && code in backendCodes) {
    return new BackendError({ code: backendCodes[code]!, message: error.message, cause: error });
  }
  return error;
}

/** Runs a synchronous binding call, rethrowing its errors typed. */
export function typed<T>(object: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw toTypedError(error, object);
  }
}
