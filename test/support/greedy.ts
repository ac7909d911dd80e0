import type { BackendContext, BackendModel } from "@hybrid-llm/core";

/** One sequence's greedy stream: the tokens, and for each the top-1 / top-2 margin it was chosen with. */
export interface GreedyStream {
  readonly tokens: number[];
  readonly margins: number[];
  /** Logits of the first generated position (after the prompt). */
  readonly firstLogits: Float32Array;
}

/**
 * Greedy generation for several sequences at once, continuously batched: one batch prefills every prompt, then
 * each step decodes one token per sequence in one batch. With a single prompt this is plain solo generation.
 */
export async function greedy(
  context: BackendContext,
  vocabSize: number,
  prompts: readonly Int32Array[],
  steps: number,
  sequenceIds: readonly number[] = prompts.map((_, i) => i),
): Promise<GreedyStream[]> {
  const total = prompts.reduce((sum, prompt) => sum + prompt.length, 0);
  const tokens = new Int32Array(total);
  const positions = new Int32Array(total);
  const sequences = new Int32Array(total);
  const outputs = new Uint8Array(total);
  let row = 0;
  prompts.forEach((prompt, p) => {
    const start = context.posMax(sequenceIds[p]!) + 1;
    prompt.forEach((token, i) => {
      tokens[row] = token;
      positions[row] = start + i;
      sequences[row] = sequenceIds[p]!;
      outputs[row] = i === prompt.length - 1 ? 1 : 0;
      row++;
    });
  });
  const first = await context.decode({ tokens, positions, sequenceIds: sequences, outputs }, { returnLogits: true });
  const streams = prompts.map((_, p) => ({
    tokens: [first.argmax[p]!],
    margins: [first.margins[p]!],
    firstLogits: first.logits!.slice(p * vocabSize, (p + 1) * vocabSize),
  }));
  for (let step = 1; step < steps; step++) {
    const n = prompts.length;
    const result = await context.decode({
      tokens: Int32Array.from(streams, (s) => s.tokens.at(-1)!),
      positions: Int32Array.from(sequenceIds.slice(0, n), (seq) => context.posMax(seq) + 1),
      sequenceIds: Int32Array.from(sequenceIds.slice(0, n)),
      outputs: new Uint8Array(n).fill(1),
    });
    streams.forEach((stream, p) => {
      stream.tokens.push(result.argmax[p]!);
      stream.margins.push(result.margins[p]!);
    });
  }
  return streams;
}

/**
 * Compares a candidate stream with a reference the robust way (batched and solo runs pick different kernels, so near-ties may flip): token by token, up to but not
 * including the first step whose reference margin is below `tolerance` (that step's token may legitimately flip, and
 * everything after it with it). Returns the number of steps compared and the first mismatch, if any.
 */
export function compareStreams(reference: GreedyStream, candidate: GreedyStream, tolerance = 1e-3): { compared: number; mismatchAt: number | undefined } {
  let compared = 0;
  for (let step = 0; step < reference.tokens.length; step++) {
    if (reference.margins[step]! < tolerance) break;
    if (reference.tokens[step] !== candidate.tokens[step]) return { compared, mismatchAt: step };
    compared++;
  }
  return { compared, mismatchAt: undefined };
}

export function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

export const prompts = [
  "The quick brown fox jumps over the lazy dog",
  "In the beginning there was",
  "Hello, my name is",
  "Once upon a time, in a land far away",
  "The capital of France is",
  "1 2 3 4 5 6",
  "I think therefore I am",
  "To be or not to be, that is",
];

export function tokenizeAll(model: BackendModel, texts: readonly string[] = prompts): Int32Array[] {
  return texts.map((text) => model.tokenize(text));
}

/**
 * Decodes `inputs` solo (one at a time on a 1-slot context) and together (one batch per step on an n-slot context)
 * and compares each sequence's streams: the same tokens wherever the margin is clear, first logits within 1e-3.
 * Returns how many steps were compared with a clear margin, and the first mismatch per sequence (undefined: none).
 */
export async function batchedVersusSolo(
  model: BackendModel,
  inputs: readonly Int32Array[],
  options: { readonly steps: number; readonly soloCtx: number; readonly batchedCtx: number; readonly batch: number },
): Promise<{ compared: number; mismatches: (number | undefined)[]; logitDifferences: number[] }> {
  const solo: GreedyStream[] = [];
  const soloContext = await model.createContext({ ctx: options.soloCtx, slots: 1, threads: 1, batch: options.batch });
  for (const prompt of inputs) {
    soloContext.clear();
    solo.push((await greedy(soloContext, model.info.vocabSize, [prompt], options.steps))[0]!);
  }
  await soloContext.dispose();
  const batched = await model.createContext({ ctx: options.batchedCtx, slots: inputs.length, threads: 1, batch: options.batch });
  const together = await greedy(batched, model.info.vocabSize, inputs, options.steps);
  await batched.dispose();
  let compared = 0;
  const mismatches = together.map((stream, i) => {
    const result = compareStreams(solo[i]!, stream);
    compared += result.compared;
    return result.mismatchAt;
  });
  return { compared, mismatches, logitDifferences: together.map((stream, i) => maxAbsDifference(solo[i]!.firstLogits, stream.firstLogits)) };
}

/**
 * Decodes `prompt` on sequence 0, copies it to sequence 1 (`seqCopy`) and continues there, and compares that with
 * sequence 2 evaluating prompt + continuation from scratch. Returns the first mismatch and the first logits' difference.
 */
export async function copyVersusRecompute(
  model: BackendModel,
  prompt: Int32Array,
  options: { readonly ctx: number; readonly slots: number },
): Promise<{ mismatchAt: number | undefined; logitDifference: number; copiedPosMax: number; sourcePosMax: number }> {
  const context = await model.createContext({ ctx: options.ctx, slots: options.slots, threads: 1, batch: 128 });
  try {
    await greedy(context, model.info.vocabSize, [prompt], 1, [0]);
    context.seqCopy(0, 1);
    const copiedPosMax = context.posMax(1);
    const sourcePosMax = context.posMax(0);
    const continuation = model.tokenize(" and then runs away", { addSpecial: false });
    const [copied] = await greedy(context, model.info.vocabSize, [continuation], 6, [1]);
    const [recomputed] = await greedy(context, model.info.vocabSize, [Int32Array.from([...prompt, ...continuation])], 6, [2]);
    return { mismatchAt: compareStreams(recomputed!, copied!).mismatchAt, logitDifference: maxAbsDifference(recomputed!.firstLogits, copied!.firstLogits), copiedPosMax, sourcePosMax };
  } finally {
    await context.dispose();
  }
}

/**
 * Continues sequence 0 (prompt evaluated up to position `p`) with a fixed tail, then rebuilds sequence 1 from it —
 * the attention cells of `[0, p)` shared by `seqCopy`, the recurrent state from `checkpoint` (a partial state of
 * sequence 0 at `p`) — and continues it with the same tail. Returns both streams; they must agree.
 */
export async function continueFromCheckpoint(
  context: BackendContext,
  model: BackendModel,
  checkpoint: Uint8Array,
  p: number,
): Promise<{ original: GreedyStream; restored: GreedyStream; bytesRead: number; restoredPosMax: number }> {
  const tail = model.tokenize(" over and over again", { addSpecial: false });
  const [original] = await greedy(context, model.info.vocabSize, [tail], 4, [0]);
  context.seqCopy(0, 1, 0, p);
  const bytesRead = context.setState(1, checkpoint, { partial: true });
  const restoredPosMax = context.posMax(1);
  const [restored] = await greedy(context, model.info.vocabSize, [tail], 4, [1]);
  return { original: original!, restored: restored!, bytesRead, restoredPosMax };
}
