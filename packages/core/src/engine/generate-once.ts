import type { BackendContext } from "../backend/backend-context.js";
import type { BackendModel } from "../backend/backend-model.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import { type SamplingOptions, resolveSampling } from "./sampling-options.js";

/** Options of {@link generateOnce}. */
export interface GenerateOnceOptions extends SamplingOptions {
  /** Most tokens to generate. Defaults to 64. */
  readonly maxTokens?: number;
  /** Sequence (slot) to use in the context. Defaults to 0. */
  readonly sequence?: number;
  /** Called with each generated token as soon as it is chosen. */
  readonly onToken?: (token: number) => void;
  /** Stops generation early (the result is then `finishReason: "aborted"`). */
  readonly signal?: AbortSignal;
}

/** What {@link generateOnce} produced. */
export interface GenerateOnceResult {
  readonly tokens: number[];
  readonly finishReason: "stop" | "length" | "aborted";
  readonly promptTokens: number;
  /** Milliseconds spent evaluating the prompt. */
  readonly prefillMs: number;
  /** Milliseconds spent generating after the first token. */
  readonly decodeMs: number;
}

/**
 * One completion on one sequence of a context: the prompt in batch-sized chunks, then one token per decode until an
 * end-of-generation token or `maxTokens`. The sequence is cleared first. The serving engine batches many of these;
 * this is the single-request path (CLI `generate`, parity tests).
 */
export async function generateOnce(
  model: BackendModel,
  context: BackendContext,
  prompt: Int32Array,
  options: GenerateOnceOptions = {},
): Promise<GenerateOnceResult> {
  const maxTokens = options.maxTokens ?? 64;
  const sequence = options.sequence ?? 0;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) {
    throw new InvalidArgumentError({ argument: "maxTokens", message: `maxTokens must be a positive integer, got ${maxTokens}` });
  }
  if (prompt.length === 0) throw new InvalidArgumentError({ argument: "prompt", message: "the prompt is empty" });
  const room = context.info.cellsPerStream;
  if (prompt.length + maxTokens > room) {
    throw new InvalidArgumentError({
      argument: "prompt",
      message: `the prompt (${prompt.length} tokens) plus maxTokens (${maxTokens}) exceeds the ${room} tokens one sequence can hold`,
    });
  }
  const config = resolveSampling(options, { vocabSize: model.info.vocabSize, maxTokens });
  const endTokens = new Set(model.info.endOfGenerationTokens);
  // Sampling runs in the backend (a llama.cpp sampler chain); plain greedy uses its argmax. Created first: it checks
  // the config and parses the grammar, and a refusal must leave the caller's sequence as it was.
  const handle = config === undefined ? -1 : context.createSampler(config);
  try {
    context.seqRemove(sequence);
    return await run(context, prompt, { ...options, maxTokens, sequence, handle, endTokens });
  } finally {
    if (handle !== -1) context.freeSampler(handle);
  }
}

async function run(
  context: BackendContext,
  prompt: Int32Array,
  options: GenerateOnceOptions & { maxTokens: number; sequence: number; handle: number; endTokens: ReadonlySet<number> },
): Promise<GenerateOnceResult> {
  const { maxTokens, sequence, handle, endTokens } = options;
  const samplers = handle === -1 ? {} : { samplers: Int32Array.of(handle) };

  const started = performance.now();
  let last: number | undefined;
  for (let start = 0; start < prompt.length; start += context.info.batch) {
    const chunk = prompt.subarray(start, Math.min(prompt.length, start + context.info.batch));
    const outputs = new Uint8Array(chunk.length);
    const isLast = start + chunk.length === prompt.length;
    if (isLast) outputs[chunk.length - 1] = 1;
    const result = await context.decode(
      {
        tokens: chunk,
        positions: Int32Array.from(chunk, (_, i) => start + i),
        sequenceIds: new Int32Array(chunk.length).fill(sequence),
        outputs,
      },
      isLast ? samplers : {},
    );
    if (isLast) last = result.tokens?.[0] ?? result.argmax[0]!;
  }
  const prefillMs = performance.now() - started;

  const tokens: number[] = [];
  let finishReason: GenerateOnceResult["finishReason"] = "length";
  const decodeStarted = performance.now();
  while (last !== undefined) {
    if (options.signal?.aborted) {
      finishReason = "aborted";
      break;
    }
    const token = last;
    if (token === -1) throw new InvalidArgumentError({ argument: "grammar", message: "no token is allowed here: the grammar and the logit bias rule out every token" });
    if (endTokens.has(token)) {
      finishReason = "stop";
      break;
    }
    tokens.push(token);
    options.onToken?.(token);
    if (tokens.length >= maxTokens) break;
    const result = await context.decode(
      { tokens: Int32Array.of(token), positions: Int32Array.of(prompt.length + tokens.length - 1), sequenceIds: Int32Array.of(sequence), outputs: Uint8Array.of(1) },
      samplers,
    );
    last = result.tokens?.[0] ?? result.argmax[0]!;
  }
  return { tokens, finishReason, promptTokens: prompt.length, prefillMs, decodeMs: performance.now() - decodeStarted };
}
