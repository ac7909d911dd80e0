import type { DecodeOptions } from "../backend/decode-batch.js";
import type { SamplerConfig } from "../backend/sampler-config.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import { MAX_LOGIT_BIAS, MAX_TOP_LOGPROBS } from "../engine/sampling-options.js";
import type { NativeSamplerConfig } from "./native-binding.js";
import { grammarShapeError } from "./grammar-shape.js";

const fail = (argument: string, message: string): never => {
  throw new InvalidArgumentError({ argument, message });
};

/**
 * Checks a complete sampler config as a JavaScript caller of `createSampler` may pass it (every field present and in
 * range: llama.cpp asserts on some) and lays the logit bias out as two arrays for the binding.
 */
export function nativeSamplerConfig(config: SamplerConfig, vocabSize: number): NativeSamplerConfig {
  if (typeof config !== "object" || config === null) fail("config", "the sampler config must be an object");
  const number = (name: keyof SamplerConfig, ok: (n: number) => boolean, range: string) => {
    const value = config[name];
    if (typeof value !== "number" || !Number.isFinite(value) || !ok(value)) fail(name, `${name} must be ${range}, got ${String(value)}`);
    return value as number;
  };
  const bias = config.logitBias;
  if (!(bias instanceof Map)) fail("logitBias", "logitBias must be a Map of token id → bias");
  const biasTokens = new Int32Array(bias.size);
  const biasValues = new Float32Array(bias.size);
  let i = 0;
  for (const [token, value] of bias) {
    if (!Number.isInteger(token) || token < 0 || token >= vocabSize) fail("logitBias", `logit bias token ${String(token)} is outside the vocabulary`);
    if (typeof value !== "number" || !(value === Number.NEGATIVE_INFINITY || Math.abs(value) <= MAX_LOGIT_BIAS)) {
      fail("logitBias", `the bias of token ${token} must be a number in [-${MAX_LOGIT_BIAS}, ${MAX_LOGIT_BIAS}] or -Infinity, got ${String(value)}`);
    }
    biasTokens[i] = token;
    biasValues[i++] = value;
  }
  if (config.grammar !== undefined && (typeof config.grammar !== "string" || config.grammar.length === 0)) fail("grammar", "grammar must be a non-empty string");
  const shape = config.grammar === undefined ? undefined : grammarShapeError(config.grammar);
  if (shape !== undefined) fail("grammar", shape);
  return {
    temperature: number("temperature", (n) => n >= 0 && n <= 1e6, "a number in [0, 1e6]"),
    topK: number("topK", (n) => Number.isInteger(n) && n >= 0 && n <= 2 ** 31 - 1, "an integer ≥ 0"),
    topP: number("topP", (n) => n >= 0 && n <= 1, "in [0, 1]"),
    minP: number("minP", (n) => n >= 0 && n <= 1, "in [0, 1]"),
    typicalP: number("typicalP", (n) => n >= 0 && n <= 1, "in [0, 1]"),
    repetitionPenalty: number("repetitionPenalty", (n) => n >= 1e-6 && n <= 1e6, "in [1e-6, 1e6]"),
    presencePenalty: number("presencePenalty", (n) => Math.abs(n) <= 1e6, "a number"),
    frequencyPenalty: number("frequencyPenalty", (n) => Math.abs(n) <= 1e6, "a number"),
    penaltyLastN: number("penaltyLastN", (n) => Number.isInteger(n) && n >= 0 && n <= 2 ** 24, "an integer in [0, 2^24]"),
    seed: number("seed", (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32, "an integer in [0, 2^32)"),
    biasTokens,
    biasValues,
    ...(config.grammar !== undefined ? { grammar: config.grammar } : {}),
  };
}

/** Checks `samplers` / `logprobs` of a decode: one entry per output row, live handles, counts in range. */
export function validateDecodeSampling(options: DecodeOptions, outputRows: number, live: ReadonlySet<number>): void {
  if (options.samplers !== undefined) {
    if (!(options.samplers instanceof Int32Array) || options.samplers.length !== outputRows) fail("samplers", `samplers must be an Int32Array with one handle per output row (${outputRows})`);
    for (const handle of options.samplers) if (handle !== -1 && !live.has(handle)) fail("samplers", `no sampler ${handle} in this context`);
  }
  if (options.logprobs !== undefined) {
    if (!(options.logprobs instanceof Int32Array) || options.logprobs.length !== outputRows) fail("logprobs", `logprobs must be an Int32Array with one entry per output row (${outputRows})`);
    for (const n of options.logprobs) if (n < -1 || n > MAX_TOP_LOGPROBS) fail("logprobs", `logprobs entries must be in [-1, ${MAX_TOP_LOGPROBS}], got ${n}`);
  }
}
