/**
 * Messages between {@link WasmBackend} (caller's thread) and the worker that runs the Wasm module. Calls name an
 * object (`backend`, or a model / context id) and a method; replies carry a value or a serialized error.
 */
export type WorkerRequest =
  /** `threads` 1: `wasm` is the standalone module (path or bytes); above 1: the path of the mt build's glue (`hybrid-llm-mt.js`). */
  | { readonly kind: "init"; readonly id: number; readonly wasm: Uint8Array | string; readonly threads: number }
  | { readonly kind: "call"; readonly id: number; readonly target: number; readonly method: string; readonly args: readonly unknown[] };

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: SerializedError }
  | { readonly id: number; readonly progress: number };

/** An error crossing the thread boundary: typed errors are rebuilt from these fields. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

/** Target id of the backend itself (models and contexts get ids from 1). */
export const BACKEND_TARGET = 0;
