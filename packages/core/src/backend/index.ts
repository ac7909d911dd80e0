export type { Backend, BackendDevice } from "./backend.js";
export type { BackendContext, StateOptions } from "./backend-context.js";
export type { BackendModel, DetokenizeOptions, TokenizeOptions } from "./backend-model.js";
export type { ContextInfo, ContextOptions } from "./context-options.js";
export type { DecodeBatch, DecodeOptions, DecodeResult } from "./decode-batch.js";
export type { LoadModelOptions } from "./load-model-options.js";
export type { BufferAllocation, MemoryAllocation } from "./memory-allocation.js";
export type { ModelInfo } from "./model-info.js";
export type { ModelSource } from "./model-source.js";
