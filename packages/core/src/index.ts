/**
 * @hybrid-llm/core — runtime-neutral: no file system, no native code. Runs in Node, Deno, browsers and Wasm hosts.
 *
 * @packageDocumentation
 * @module @hybrid-llm/core
 */
export type * from "./backend/index.js";
export * from "./binding/index.js";
export * from "./cache/index.js";
export * from "./engine/index.js";
export * from "./errors/index.js";
export * from "./fixtures/index.js";
export * from "./gguf/index.js";
export * from "./plan/index.js";
