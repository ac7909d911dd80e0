import type { SamplerConfig } from "../backend/sampler-config.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import { MAX_GRAMMAR_NESTING, grammarShapeError } from "../binding/grammar-shape.js";

/**
 * How the next token is chosen. Sampling runs inside llama.cpp (a sampler chain per request, see
 * {@link SamplerConfig} for the order); the logits never leave the backend. The defaults are OpenAI's: temperature 1,
 * nothing truncated, no penalties.
 */
export interface SamplingOptions {
  /** Divides the logits before the draw, 0 to 1e6; 0 = greedy (argmax). Defaults to 1. */
  readonly temperature?: number;
  /** Keep only the k most likely tokens (an integer < 2³¹); 0 = off. Defaults to 0. */
  readonly topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (nucleus sampling); 1 = off. Defaults to 1. */
  readonly topP?: number;
  /** Drop tokens less likely than minP × the most likely token's probability; 0 = off. Defaults to 0. */
  readonly minP?: number;
  /** Locally typical sampling with mass p; 1 = off. Defaults to 1. */
  readonly typicalP?: number;
  /**
   * llama.cpp's repeat penalty over the last {@link penaltyLastN} generated tokens: a seen token's positive logit is
   * divided by it, a negative one multiplied; 1e-6 to 1e6, 1 = off. Defaults to 1.
   */
  readonly repetitionPenalty?: number;
  /** OpenAI's presence penalty, -2 to 2: subtracted once from the logit of every token already generated; 0 = off. Defaults to 0. */
  readonly presencePenalty?: number;
  /** OpenAI's frequency penalty, -2 to 2: subtracted from a token's logit once per time it was generated; 0 = off. Defaults to 0. */
  readonly frequencyPenalty?: number;
  /** How many of the last generated tokens the penalties look at (at most 2²⁴); -1 = all of them, 0 = none. Defaults to -1. */
  readonly penaltyLastN?: number;
  /** Token id → a number added to its logit, in [-1e6, 1e6]; `-Infinity` bans the token. Defaults to none. */
  readonly logitBias?: Readonly<Record<number, number>>;
  /**
   * Seed of the draw (an integer in [0, 2³²)): the same seed, prompt and options give the same tokens. Defaults to a
   * fresh random seed per request, so two identical unseeded requests do not repeat each other.
   */
  readonly seed?: number;
  /**
   * A GBNF grammar (llama.cpp's format, start rule `root`): every token is constrained so the output follows it, and
   * end-of-generation is only allowed where the grammar is complete. A grammar that does not parse is refused by
   * `generate()` (InvalidArgumentError, argument `grammar`), and so is one nesting groups deeper than
   * {@link MAX_GRAMMAR_NESTING} levels (llama.cpp parses groups recursively). Defaults to none.
   */
  readonly grammar?: string;
}

/** Most alternatives {@link GenerateRequest.logprobs} may ask for (OpenAI's limit). */
export const MAX_TOP_LOGPROBS = 20;

/** Largest finite logit bias (either sign): two biases near float32's limit would overflow a logit to infinity. */
export const MAX_LOGIT_BIAS = 1e6;

/** Largest penalty window (llama.cpp's penalty sampler keeps a ring buffer of this many tokens). */
const MAX_PENALTY_WINDOW = 2 ** 24;

const fail = (argument: string, message: string): never => {
  throw new InvalidArgumentError({ argument, message });
};

function numberIn(options: SamplingOptions, name: keyof SamplingOptions, fallback: number, ok: (n: number) => boolean, range: string): number {
  const value = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || !ok(value)) fail(name, `${name} must be ${range}, got ${String(value)}`);
  return value as number;
}

/**
 * Checks a request's sampling options (what a JavaScript caller may pass too) and applies the defaults. Returns
 * undefined for plain greedy decoding (temperature 0, no penalty, bias or grammar): the backend's argmax then needs
 * no sampler. `maxTokens` bounds the penalty window of `penaltyLastN: -1`. The grammar is only checked for being a
 * string here; the backend parses it.
 */
export function resolveSampling(options: SamplingOptions, limits: { readonly vocabSize: number; readonly maxTokens: number }): SamplerConfig | undefined {
  const temperature = numberIn(options, "temperature", 1, (n) => n >= 0 && n <= 1e6, "a number in [0, 1e6]");
  const topK = numberIn(options, "topK", 0, (n) => Number.isInteger(n) && n >= 0 && n <= 2 ** 31 - 1, "an integer in [0, 2^31)");
  const topP = numberIn(options, "topP", 1, (n) => n >= 0 && n <= 1, "a number in [0, 1]");
  const minP = numberIn(options, "minP", 0, (n) => n >= 0 && n <= 1, "a number in [0, 1]");
  const typicalP = numberIn(options, "typicalP", 1, (n) => n >= 0 && n <= 1, "a number in [0, 1]");
  const repetitionPenalty = numberIn(options, "repetitionPenalty", 1, (n) => n >= 1e-6 && n <= 1e6, "a number in [1e-6, 1e6]");
  const presencePenalty = numberIn(options, "presencePenalty", 0, (n) => n >= -2 && n <= 2, "a number in [-2, 2]");
  const frequencyPenalty = numberIn(options, "frequencyPenalty", 0, (n) => n >= -2 && n <= 2, "a number in [-2, 2]");
  const lastN = numberIn(options, "penaltyLastN", -1, (n) => Number.isInteger(n) && n >= -1 && n <= MAX_PENALTY_WINDOW, "an integer in [-1, 2^24]");
  const seed = numberIn(options, "seed", -1, (n) => Number.isInteger(n) && n >= 0 && n < 2 ** 32, "an integer in [0, 2^32)");
  const logitBias = new Map<number, number>();
  if (options.logitBias !== undefined) {
    const bias = options.logitBias;
    if (typeof bias !== "object" || bias === null || Array.isArray(bias)) fail("logitBias", "logitBias must be an object mapping token ids to numbers");
    for (const [key, value] of Object.entries(bias)) {
      const token = Number(key);
      if (!Number.isInteger(token) || token < 0 || token >= limits.vocabSize || String(token) !== key) {
        fail("logitBias", `logitBias key ${JSON.stringify(key)} is not a token id of this model [0, ${limits.vocabSize})`);
      }
      if (typeof value !== "number" || !(value === Number.NEGATIVE_INFINITY || Math.abs(value) <= MAX_LOGIT_BIAS)) {
        fail("logitBias", `logitBias[${key}] must be a number in [-${MAX_LOGIT_BIAS}, ${MAX_LOGIT_BIAS}] or -Infinity, got ${String(value)}`);
      }
      if (value !== 0) logitBias.set(token, value);
    }
  }
  const grammar = options.grammar;
  if (grammar !== undefined && (typeof grammar !== "string" || grammar.trim().length === 0)) fail("grammar", "grammar must be a non-empty string of GBNF");
  const shape = grammar === undefined ? undefined : grammarShapeError(grammar);
  if (shape !== undefined) fail("grammar", shape);
  const penalized = repetitionPenalty !== 1 || presencePenalty !== 0 || frequencyPenalty !== 0;
  if (temperature === 0 && !(penalized && lastN !== 0) && logitBias.size === 0 && grammar === undefined) return undefined;
  return {
    temperature,
    topK,
    topP,
    minP,
    typicalP,
    repetitionPenalty,
    presencePenalty,
    frequencyPenalty,
    penaltyLastN: lastN === -1 ? Math.min(MAX_PENALTY_WINDOW, Math.max(1, limits.maxTokens)) : lastN,
    seed: seed === -1 ? randomSeed() : seed,
    logitBias,
    ...(grammar !== undefined ? { grammar } : {}),
  };
}

/** Checks `logprobs` of a request: undefined, or an integer in [0, {@link MAX_TOP_LOGPROBS}]. Returns -1 for none. */
export function resolveLogprobs(value: unknown): number {
  if (value === undefined) return -1;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_TOP_LOGPROBS) {
    fail("logprobs", `logprobs must be an integer in [0, ${MAX_TOP_LOGPROBS}], got ${String(value)}`);
  }
  return value as number;
}

function randomSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}
