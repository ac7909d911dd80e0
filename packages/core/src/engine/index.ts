export { type ChatMessage, renderChat } from "./chat-template.js";
export { Sampler, type SamplingOptions } from "./sampler.js";
export { type GenerateOnceOptions, type GenerateOnceResult, generateOnce } from "./generate-once.js";
