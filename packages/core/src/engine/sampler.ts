import type { SamplerConfig } from "../backend/sampler-config.js";
import { SeededRandom } from "../fixtures/random.js";

export type { SamplingOptions } from "./sampling-options.js";

/**
 * A token sampler in TypeScript over a full row of logits: logit bias, repetition / presence / frequency penalties,
 * temperature, top-k, top-p, min-p, deterministic for a seed. Not the serving path — requests are sampled inside
 * llama.cpp (`BackendContext.createSampler`), and the logits never reach JavaScript there. This one is the
 * `MockBackend`'s implementation of samplers, and a reference in tests. It does not implement typical-p or
 * grammars (the mock ignores them).
 */
export class Sampler {
  private readonly random: SeededRandom;
  private readonly history: number[] = [];

  constructor(private readonly config: SamplerConfig) {
    this.random = new SeededRandom(config.seed);
  }

  /** Picks a token from one row of logits and remembers it (for the penalties). */
  sample(logits: Float32Array): number {
    const token = this.choose(logits);
    this.accept(token);
    return token;
  }

  /** Remembers a token as generated (penalties). */
  accept(token: number): void {
    this.history.push(token);
  }

  private choose(logits: Float32Array): number {
    const c = this.config;
    const scores = Float32Array.from(logits);
    for (const [token, bias] of c.logitBias) scores[token] = scores[token]! + bias;
    const counts = new Map<number, number>();
    for (const token of this.history.slice(-c.penaltyLastN)) counts.set(token, (counts.get(token) ?? 0) + 1);
    for (const [token, count] of counts) {
      let value = scores[token]!;
      if (c.repetitionPenalty !== 1) value = value > 0 ? value / c.repetitionPenalty : value * c.repetitionPenalty;
      scores[token] = value - count * c.frequencyPenalty - c.presencePenalty;
    }
    if (c.temperature === 0) return argmax(scores);
    let candidates = Array.from(scores.keys()).filter((t) => scores[t] !== Number.NEGATIVE_INFINITY);
    candidates.sort((a, b) => scores[b]! - scores[a]!);
    if (c.topK > 0) candidates = candidates.slice(0, c.topK);
    const top = scores[candidates[0]!]!;
    let probabilities = candidates.map((token) => Math.exp((scores[token]! - top) / c.temperature));
    const total = probabilities.reduce((a, b) => a + b, 0);
    probabilities = probabilities.map((p) => p / total);
    let keep = candidates.length;
    if (c.minP > 0) keep = Math.max(1, probabilities.filter((p) => p >= c.minP * probabilities[0]!).length);
    if (c.topP < 1) {
      let cumulative = 0;
      for (let i = 0; i < keep; i++) {
        cumulative += probabilities[i]!;
        if (cumulative >= c.topP) {
          keep = i + 1;
          break;
        }
      }
    }
    const kept = probabilities.slice(0, keep);
    let r = this.random.uniform() * kept.reduce((a, b) => a + b, 0);
    for (let i = 0; i < keep; i++) {
      r -= kept[i]!;
      if (r <= 0) return candidates[i]!;
    }
    return candidates[keep - 1]!;
  }
}

function argmax(values: Float32Array): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
