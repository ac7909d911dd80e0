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

/**
 * The synchronous channel's shared words (an Int32Array over a SharedArrayBuffer): the id of the last sync request
 * the worker received, and of the last one it answered. The worker posts its answer on the sync port first, then
 * stores the id and notifies; the caller waits until the answered id is its own, so a wake-up for any other reason
 * only sends it back to waiting.
 */
export const SYNC_RECEIVED = 0;
export const SYNC_ANSWERED = 1;
export const SYNC_WORDS = 2;

/** Target id of the backend itself (models and contexts get ids from 1). */
export const BACKEND_TARGET = 0;
