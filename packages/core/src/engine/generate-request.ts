import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import type { SamplingOptions } from "./sampling-options.js";

/** One generation request: tokens in, a stream of parts out. */
export interface GenerateRequest extends SamplingOptions {
  /** The prompt, tokenized (chat templates are rendered by the caller). */
  readonly prompt: Int32Array;
  /** Most tokens to generate; also capped by what one sequence can hold. Defaults to the engine's default. */
  readonly maxTokens?: number;
  /** Stop when the text contains one of these (the stop string itself is not returned). */
  readonly stop?: readonly string[];
  /** Stop on these tokens, besides the model's end-of-generation tokens. */
  readonly stopTokens?: readonly number[];
  /** Attach to every `token` part the logits it was chosen from (costs a vocabulary-sized copy per token). Defaults to false. */
  readonly returnLogits?: boolean;
  /**
   * Return log-probabilities with every token: the chosen token's (`logprob`), plus this many most likely
   * alternatives (`topLogprobs`, 0-20). Computed in the backend as log_softmax of the model's raw logits (before
   * temperature, penalties and grammar), like OpenAI's. Defaults to none.
   */
  readonly logprobs?: number;
  /** Keep generating through end-of-generation tokens (benchmarks: always produce `maxTokens`). Defaults to false. */
  readonly ignoreEndOfGeneration?: boolean;
  /**
   * Prompt positions worth a recurrent checkpoint, e.g. where chat messages end (a later request that shares the
   * prompt up to one of them resumes there). Positions already cached are ignored. Defaults to none.
   */
  readonly checkpointAt?: readonly number[];
  /**
   * Run on this slot (like llama-server's `id_slot`), waiting while it is busy. Cached prefixes are reused whichever
   * slot holds them. Defaults to the cache's choice.
   */
  readonly slot?: number;
  /** Cancels the request at any point: queued, prefilling or generating. Its slot and cells are freed at once. */
  readonly signal?: AbortSignal;
}

/** Whether a string holds half of a surrogate pair alone (a loop: a lookbehind regex fails to parse on older engines). */
function hasLoneSurrogate(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xdc00 && code <= 0xdfff) return true; // a low half with no high half before it
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1); // NaN past the end
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
      i++;
    }
  }
  return false;
}

/**
 * Refuses what no step could handle, including what a JavaScript caller passes past the types (`stop: "zz"`, a
 * fractional stop token, a slot out of range). Sampling options are checked by `resolveSampling`. Returns the prompt and
 * the effective `maxTokens`.
 */
export function validateRequest(
  request: GenerateRequest,
  limits: { readonly vocabSize: number; readonly slots: number; readonly defaultMaxTokens: number },
): { prompt: Int32Array; maxTokens: number } {
  if (typeof request !== "object" || request === null) throw new InvalidArgumentError({ argument: "request", message: "the request must be an object" });
  const prompt = request.prompt;
  if (!(prompt instanceof Int32Array) || prompt.length === 0) {
    throw new InvalidArgumentError({ argument: "prompt", message: "the prompt must be a non-empty Int32Array of tokens" });
  }
  const maxTokens = request.maxTokens ?? limits.defaultMaxTokens;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) {
    throw new InvalidArgumentError({ argument: "maxTokens", message: `maxTokens must be a positive integer, got ${maxTokens}` });
  }
  for (const token of prompt) {
    if (token < 0 || token >= limits.vocabSize) throw new InvalidArgumentError({ argument: "prompt", message: `token ${token} is outside the vocabulary` });
  }
  const list = <T>(name: string, value: unknown, ok: (item: unknown) => item is T, what: string) => {
    if (value === undefined) return;
    if (!Array.isArray(value) || !value.every(ok)) throw new InvalidArgumentError({ argument: name, message: `${name} must be an array of ${what}` });
  };
  // A lone surrogate can only match half of a character (the decoded text has none): the text would be cut inside it.
  list("stop", request.stop, (s): s is string => typeof s === "string" && !hasLoneSurrogate(s), "well-formed strings (no lone surrogate)");
  list("stopTokens", request.stopTokens, (t): t is number => Number.isInteger(t), "token ids");
  list("checkpointAt", request.checkpointAt, (p): p is number => Number.isInteger(p) && (p as number) > 0 && (p as number) < prompt.length, "positions inside the prompt");
  if (request.slot !== undefined && !(Number.isInteger(request.slot) && request.slot >= 0 && request.slot < limits.slots)) {
    throw new InvalidArgumentError({ argument: "slot", message: `slot must be an integer in [0, ${limits.slots}), got ${request.slot}` });
  }
  if (request.signal !== undefined && !(request.signal instanceof AbortSignal)) {
    throw new InvalidArgumentError({ argument: "signal", message: "signal must be an AbortSignal" });
  }
  return { prompt, maxTokens };
}
