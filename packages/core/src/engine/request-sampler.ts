import type { BackendContext } from "../backend/backend-context.js";
import type { SamplerConfig } from "../backend/sampler-config.js";

/**
 * A request's sampler in the backend, through its whole life: created when the request is admitted, kept across
 * preemption (swap or recompute — the handle is the request's, not its slot's), rebuilt on a reopened context after a
 * crash, freed when the request ends, however it ends. Plain greedy requests have no config and never hold a handle
 * (their rows use the backend's argmax).
 */
export class RequestSampler {
  private context: BackendContext | undefined;
  private handle: number | undefined;

  constructor(
    /** The resolved options; undefined for plain greedy. */
    readonly config: SamplerConfig | undefined,
    /** Alternatives to return with each token's log-probability; -1 = no log-probabilities. */
    readonly logprobs: number,
  ) {}

  /** The handle for {@link DecodeOptions.samplers}: -1 for greedy. */
  get row(): number {
    return this.handle ?? -1;
  }

  /**
   * Creates the backend sampler on `context` (idempotent there). `history`: tokens the request already generated,
   * fed to the new sampler so its penalties and grammar continue where the old one was (its random draws restart from
   * the seed: after a crash a seeded request's remaining tokens may differ from an uncrashed run). Throws what the
   * backend throws, holding nothing.
   */
  open(context: BackendContext, history: readonly number[] = []): void {
    if (this.config === undefined || this.context === context) return;
    this.handle = undefined; // one on another (dead) context is gone with it
    const handle = context.createSampler(this.config);
    if (history.length > 0) {
      try {
        context.acceptSampler(handle, Int32Array.from(history));
      } catch (error) {
        context.freeSampler(handle);
        throw error;
      }
    }
    this.context = context;
    this.handle = handle;
  }

  /** Frees the backend sampler (idempotent). A context that is gone (crashed, disposed) took it with it. */
  close(): void {
    const { context, handle } = this;
    this.context = undefined;
    this.handle = undefined;
    if (context === undefined || handle === undefined) return;
    try {
      context.freeSampler(handle);
    } catch {
      // a dead or disposed context freed its samplers itself
    }
  }
}
