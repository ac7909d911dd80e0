/**
 * A request's token sampler, complete (every default applied) and validated: what
 * {@link BackendContext.createSampler} builds as a llama.cpp sampler chain. Built from a request's
 * {@link SamplingOptions} by `resolveSampling`.
 *
 * The chain: logit bias, penalties, grammar (they change or ban logits), then greedy when `temperature` is 0, else
 * top-k, typical, top-p, min-p (each only when on), temperature, and a seeded draw — llama.cpp's order.
 */
export interface SamplerConfig {
  /** 0 = greedy. */
  readonly temperature: number;
  /** 0 = off. */
  readonly topK: number;
  /** 1 = off. */
  readonly topP: number;
  /** 0 = off. */
  readonly minP: number;
  /** 1 = off. */
  readonly typicalP: number;
  /** llama.cpp's repeat penalty; 1 = off. */
  readonly repetitionPenalty: number;
  /** Subtracted once from the logit of every token seen; 0 = off. */
  readonly presencePenalty: number;
  /** Subtracted from a token's logit per time it was seen; 0 = off. */
  readonly frequencyPenalty: number;
  /** How many of the last sampled tokens the penalties look at (≥ 1). */
  readonly penaltyLastN: number;
  /** Seed of the draw (uint32). */
  readonly seed: number;
  /** Token id → added to its logit (`-Infinity` bans it). */
  readonly logitBias: ReadonlyMap<number, number>;
  /** GBNF grammar (start rule `root`) the output must follow; absent = unconstrained. */
  readonly grammar?: string;
}
