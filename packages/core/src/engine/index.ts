export { type ChatMessage, renderChat } from "./chat-template.js";
export { Sampler } from "./sampler.js";
export { MAX_TOP_LOGPROBS, type SamplingOptions, resolveLogprobs, resolveSampling } from "./sampling-options.js";
export { type GenerateOnceOptions, type GenerateOnceResult, generateOnce } from "./generate-once.js";
export { type AdmissionOptions, type Completion, Engine, type EngineOptions, type EngineState, type EngineStats, type PreemptionStats } from "./engine.js";
export type { GenerateRequest } from "./generate-request.js";
export type { FinishReason, StreamPart, Usage } from "./stream-part.js";
export { type ChatPrompt, type TokenizeChatOptions, tokenizeChat } from "./chat-prompt.js";
