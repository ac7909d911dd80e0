/**
 * @hybrid-llm/wasm — the WebAssembly backend: the same binding and llama.cpp as the native backend, compiled with
 * emscripten + emnapi, running in a worker thread (Node and Deno).
 *
 * @packageDocumentation
 * @module @hybrid-llm/wasm
 */
export { WASM32_ALLOCATABLE_BYTES } from "./instantiate.js";
export { MAX_WASM_THREADS, WasmBackend, type WasmBackendOptions, defaultWasmPath, defaultWasmThreadsPath } from "./wasm-backend.js";
