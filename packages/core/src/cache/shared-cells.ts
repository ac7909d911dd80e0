import type { ContextInfo } from "../backend/context-options.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import type { CacheSpec } from "./cache-spec.js";

/**
 * Whether a prefix can be reused by sharing a context's attention cells between sequences (`seqCopy`), the way the
 * prefix cache resumes attention + recurrent models; when not, it resumes from checkpoints alone, as for a purely
 * recurrent model.
 *
 * The case that decides it is a sliding-window (iSWA) model on a window-sized SWA cache (`swaFull: false`):
 * llama.cpp recycles a cell once it falls out of its sequence's window, but only while one sequence holds it, so
 * cells shared by `seqCopy` could never be recycled and the cache, sized for the windows alone, runs out (llama.cpp:
 * "failed to prepare attention swa ubatches"). When every attention layer slides, nothing needs sharing: a partial
 * checkpoint carries the window's cells along with the recurrent state (`LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY` writes
 * the SWA cache's unmasked cells), which is the whole state of the sequence. With a full-size SWA cache cells are
 * never short, and sharing works as for any hybrid.
 *
 * @throws InvalidArgumentError for a window-sized SWA cache on a model that also has full-attention layers (their
 * cells would have to be shared, the window's could not be): no supported architecture has that mix today.
 */
export function shareAttentionCells(spec: CacheSpec, info: Pick<ContextInfo, "swaFull">): boolean {
  const layers = spec.attention.layers;
  if (layers.length === 0) return false;
  if (info.swaFull || !layers.some((layer) => layer.sliding)) return true;
  if (layers.every((layer) => layer.sliding)) return false;
  throw new InvalidArgumentError({
    argument: "context",
    message: `${spec.architecture} mixes sliding-window and full-attention layers: the Engine needs its context created with swaFull: true`,
  });
}
