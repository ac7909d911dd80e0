import { RequestError } from "./request-error.js";

/** The server's sampling defaults, for requests that leave a field out (`hybrid-llm serve --temperature …`). */
export interface SamplingDefaults {
  /** Defaults to 1 (OpenAI's). */
  readonly temperature?: number;
  /** Defaults to 1 (off, OpenAI's). */
  readonly topP?: number;
  /** Defaults to 0 (off, OpenAI has none). */
  readonly topK?: number;
  /** Defaults to 0 (off, OpenAI has none). */
  readonly minP?: number;
}

/** The engine's sampling options a request asks for (the names of `@hybrid-llm/core`'s SamplingOptions). */
export interface RequestSampling {
  readonly temperature: number;
  readonly topP: number;
  readonly topK: number;
  readonly minP: number;
  readonly typicalP?: number;
  readonly repetitionPenalty?: number;
  readonly presencePenalty?: number;
  readonly frequencyPenalty?: number;
  readonly logitBias?: Readonly<Record<number, number>>;
  readonly seed?: number;
}

/** Sampling fields of a request body (besides `messages`/`prompt` and output shaping). */
export const samplingFields = ["temperature", "top_p", "top_k", "min_p", "typical_p", "repeat_penalty", "repetition_penalty", "presence_penalty", "frequency_penalty", "logit_bias", "seed"];

/** A number field: absent/null gives undefined; anything else must be a finite number passing `check` (400 naming it). */
export function numberField(body: Record<string, unknown>, key: string, check: (n: number) => boolean, range: string): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || !check(value)) {
    throw new RequestError(400, `${key} must be ${range}, got ${JSON.stringify(value)}`, "invalid_request_error", key);
  }
  return value;
}

/** Checks that sampling options with default `defaults` are in range (a JavaScript caller of createServer may pass anything). */
export function checkSamplingDefaults(defaults: SamplingDefaults): void {
  const bad = (key: string, ok: (n: number) => boolean) => {
    const value = defaults[key as keyof SamplingDefaults];
    return value !== undefined && (typeof value !== "number" || !Number.isFinite(value) || !ok(value));
  };
  for (const [key, ok] of Object.entries(defaultChecks)) {
    if (bad(key, ok.check)) throw new RangeError(`sampling.${key} must be ${ok.range}, got ${String(defaults[key as keyof SamplingDefaults])}`);
  }
}

const defaultChecks: Record<keyof SamplingDefaults, { check: (n: number) => boolean; range: string }> = {
  temperature: { check: (v) => v >= 0 && v <= 2, range: "a number from 0 to 2" },
  topP: { check: (v) => v > 0 && v <= 1, range: "a number above 0, at most 1" },
  topK: { check: (v) => Number.isInteger(v) && v >= 0, range: "an integer >= 0 (0 = off)" },
  minP: { check: (v) => v >= 0 && v <= 1, range: "a number from 0 to 1" },
};

/**
 * The sampling options of an OpenAI request body, checked: out of range is a 400 naming the field. `logit_bias`
 * maps token-id strings to -100..100, added to the logits; -100 bans the token (as OpenAI documents it).
 * `repeat_penalty` (llama-server) and `repetition_penalty` (vLLM) are one option under two names.
 */
export function requestSampling(body: Record<string, unknown>, defaults: SamplingDefaults, vocabSize: number): RequestSampling {
  const temperature = numberField(body, "temperature", defaultChecks.temperature.check, defaultChecks.temperature.range) ?? defaults.temperature ?? 1;
  const topP = numberField(body, "top_p", defaultChecks.topP.check, defaultChecks.topP.range) ?? defaults.topP ?? 1;
  const topK = numberField(body, "top_k", defaultChecks.topK.check, defaultChecks.topK.range) ?? defaults.topK ?? 0;
  const minP = numberField(body, "min_p", defaultChecks.minP.check, defaultChecks.minP.range) ?? defaults.minP ?? 0;
  const typicalP = numberField(body, "typical_p", (v) => v > 0 && v <= 1, "a number above 0, at most 1");
  const repeat = numberField(body, "repeat_penalty", (v) => v > 0 && v <= 10, "a number above 0, at most 10");
  const repetition = numberField(body, "repetition_penalty", (v) => v > 0 && v <= 10, "a number above 0, at most 10");
  if (repeat !== undefined && repetition !== undefined && repeat !== repetition) {
    throw new RequestError(400, "repeat_penalty and repetition_penalty are the same option; give one", "invalid_request_error", "repetition_penalty");
  }
  const repetitionPenalty = repeat ?? repetition;
  const presencePenalty = numberField(body, "presence_penalty", (v) => v >= -2 && v <= 2, "a number from -2 to 2");
  const frequencyPenalty = numberField(body, "frequency_penalty", (v) => v >= -2 && v <= 2, "a number from -2 to 2");
  const seed = numberField(body, "seed", (v) => Number.isSafeInteger(v), "an integer");
  const logitBias = logitBiasField(body.logit_bias, vocabSize);
  return {
    temperature,
    topP,
    topK,
    minP,
    ...(typicalP === undefined ? {} : { typicalP }),
    ...(repetitionPenalty === undefined ? {} : { repetitionPenalty }),
    ...(presencePenalty === undefined ? {} : { presencePenalty }),
    ...(frequencyPenalty === undefined ? {} : { frequencyPenalty }),
    ...(logitBias === undefined ? {} : { logitBias }),
    // OpenAI's seed is any integer; the engine's is 32 bits.
    ...(seed === undefined ? {} : { seed: seed >>> 0 }),
  };
}

function logitBiasField(value: unknown, vocabSize: number): Record<number, number> | undefined {
  if (value === undefined || value === null) return undefined;
  const fail = (message: string): never => {
    throw new RequestError(400, `logit_bias ${message}`, "invalid_request_error", "logit_bias");
  };
  if (typeof value !== "object" || Array.isArray(value)) fail("must be an object of token ids to numbers from -100 to 100");
  const bias: Record<number, number> = {};
  for (const [key, amount] of Object.entries(value as Record<string, unknown>)) {
    const token = /^(0|[1-9]\d*)$/.test(key) ? Number(key) : -1;
    if (!(token >= 0 && token < vocabSize)) fail(`keys must be token ids from 0 to ${vocabSize - 1}, got ${JSON.stringify(key)}`);
    if (typeof amount !== "number" || !Number.isFinite(amount) || amount < -100 || amount > 100) fail(`values must be numbers from -100 to 100, got ${JSON.stringify(amount)} for ${key}`);
    bias[token] = amount === -100 ? Number.NEGATIVE_INFINITY : (amount as number);
  }
  return Object.keys(bias).length === 0 ? undefined : bias;
}
