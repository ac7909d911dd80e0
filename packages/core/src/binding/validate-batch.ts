import type { DecodeBatch } from "../backend/decode-batch.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";

/**
 * Refuses, before any native call, every batch llama.cpp would abort on or reject: arrays of the wrong type or
 * length, an empty batch or one over the context's batch size, tokens outside the vocabulary, sequence ids outside
 * the slots, negative positions, and positions that are not consecutive within a sequence. (That a sequence's first
 * position continues its cache is checked by llama.cpp, which refuses the batch without changing anything.)
 */
export function validateBatch(batch: DecodeBatch, limits: { batch: number; slots: number; vocabSize: number }): void {
  const fail = (argument: string, message: string): never => {
    throw new InvalidArgumentError({ argument, message });
  };
  if (!(batch.tokens instanceof Int32Array)) fail("tokens", "tokens must be an Int32Array");
  if (!(batch.positions instanceof Int32Array)) fail("positions", "positions must be an Int32Array");
  if (!(batch.sequenceIds instanceof Int32Array)) fail("sequenceIds", "sequenceIds must be an Int32Array");
  if (!(batch.outputs instanceof Uint8Array)) fail("outputs", "outputs must be a Uint8Array");
  const n = batch.tokens.length;
  if (n === 0) fail("tokens", "the batch is empty");
  if (batch.positions.length !== n || batch.sequenceIds.length !== n || batch.outputs.length !== n) {
    fail("batch", `tokens (${n}), positions (${batch.positions.length}), sequenceIds (${batch.sequenceIds.length}) and outputs (${batch.outputs.length}) must have the same length`);
  }
  if (n > limits.batch) fail("batch", `a batch of ${n} tokens exceeds the context's batch size of ${limits.batch}`);
  // Each sequence's last position so far (-1: none yet); ids are checked to be within the slots before they index it.
  const lastPosition = new Int32Array(limits.slots).fill(-1);
  for (let i = 0; i < n; i++) {
    const token = batch.tokens[i]!;
    const sequence = batch.sequenceIds[i]!;
    const position = batch.positions[i]!;
    if (token < 0 || token >= limits.vocabSize) fail("tokens", `token ${token} at row ${i} is outside the vocabulary [0, ${limits.vocabSize})`);
    if (sequence < 0 || sequence >= limits.slots) fail("sequenceIds", `sequence id ${sequence} at row ${i} is outside the slots [0, ${limits.slots})`);
    if (position < 0) fail("positions", `position ${position} at row ${i} is negative`);
    const previous = lastPosition[sequence]!;
    if (previous !== -1 && position !== previous + 1) {
      fail("positions", `sequence ${sequence}: position ${position} at row ${i} does not follow ${previous}; positions must be consecutive`);
    }
    lastPosition[sequence] = position;
  }
}
