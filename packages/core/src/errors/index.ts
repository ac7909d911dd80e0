export { BackendError, type BackendErrorCode } from "./backend-error.js";
export { DisposedError } from "./disposed-error.js";
export { HybridLlmError } from "./hybrid-llm-error.js";
export { InvalidArgumentError } from "./invalid-argument-error.js";
export { InvalidGgufError } from "./invalid-gguf-error.js";
export { InvalidPlanError } from "./invalid-plan-error.js";
export { ModelMetadataError } from "./model-metadata-error.js";
export { UnsupportedArchitectureError } from "./unsupported-architecture-error.js";
