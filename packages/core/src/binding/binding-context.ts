import type { BackendContext, StateOptions } from "../backend/backend-context.js";
import type { ContextInfo } from "../backend/context-options.js";
import type { DecodeBatch, DecodeOptions, DecodeResult } from "../backend/decode-batch.js";
import type { MemoryAllocation } from "../backend/memory-allocation.js";
import type { SamplerConfig } from "../backend/sampler-config.js";
import { BackendError } from "../errors/backend-error.js";
import { DisposedError } from "../errors/disposed-error.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import type { NativeContext, NativeDecodeResult } from "./native-binding.js";
import { toTypedError, typed } from "./typed-errors.js";
import { validateBatch } from "./validate-batch.js";
import { nativeSamplerConfig, validateDecodeSampling } from "./validate-sampling.js";

const PARTIAL_ONLY = 1; // LLAMA_STATE_SEQ_FLAGS_PARTIAL_ONLY

/** {@link BackendContext} over the binding's native context. */
export class BindingContext implements BackendContext {
  private disposed = false;
  private inFlight: Promise<unknown> | undefined;
  /** Handles of the samplers alive in the native context. */
  private readonly samplers = new Set<number>();

  constructor(
    private readonly native: NativeContext,
    readonly info: ContextInfo,
    private readonly vocabSize: number,
    private readonly onDispose: (context: BindingContext) => void,
  ) {}

  private live(): NativeContext {
    if (this.disposed) throw new DisposedError({ object: "context" });
    return this.native;
  }

  private sequence(sequence: number, argument = "sequence"): number {
    if (!Number.isInteger(sequence) || sequence < 0 || sequence >= this.info.slots) {
      throw new InvalidArgumentError({ argument, message: `sequence id ${sequence} is outside the slots [0, ${this.info.slots})` });
    }
    return sequence;
  }

  private position(position: number | undefined, argument: string): number {
    if (position === undefined) return -1;
    if (!Number.isInteger(position) || position < -1) {
      throw new InvalidArgumentError({ argument, message: `${argument} must be an integer ≥ -1, got ${position}` });
    }
    return position;
  }

  async decode(batch: DecodeBatch, options: DecodeOptions = {}): Promise<DecodeResult> {
    const native = this.live();
    validateBatch(batch, { batch: this.info.batch, slots: this.info.slots, vocabSize: this.vocabSize });
    const rows: number[] = [];
    batch.outputs.forEach((wanted, i) => {
      if (wanted !== 0) rows.push(i);
    });
    validateDecodeSampling(options, rows.length, this.samplers);
    let call: Promise<NativeDecodeResult>;
    try {
      call = native.decode(batch.tokens, batch.positions, batch.sequenceIds, batch.outputs, options.returnLogits === true, options.samplers, options.logprobs);
    } catch (error) {
      throw toTypedError(error, "context");
    }
    this.inFlight = call.catch(() => undefined);
    try {
      const result = await call;
      return { rows: Int32Array.from(rows), ...result };
    } catch (error) {
      throw toTypedError(error, "context");
    } finally {
      this.inFlight = undefined;
    }
  }

  seqRemove(sequence: number, p0?: number, p1?: number): boolean {
    const native = this.live();
    return typed("context", () => native.seqRemove(this.sequence(sequence), this.position(p0, "p0"), this.position(p1, "p1")));
  }

  seqCopy(source: number, destination: number, p0?: number, p1?: number): void {
    const native = this.live();
    typed("context", () =>
      native.seqCopy(this.sequence(source, "source"), this.sequence(destination, "destination"), this.position(p0, "p0"), this.position(p1, "p1")),
    );
  }

  seqKeep(sequence: number): void {
    const native = this.live();
    typed("context", () => native.seqKeep(this.sequence(sequence)));
  }

  seqAdd(sequence: number, p0: number, p1: number, delta: number): void {
    const native = this.live();
    if (!Number.isInteger(delta)) throw new InvalidArgumentError({ argument: "delta", message: `delta must be an integer, got ${delta}` });
    typed("context", () => native.seqAdd(this.sequence(sequence), this.position(p0, "p0"), this.position(p1, "p1"), delta));
  }

  posMin(sequence: number): number {
    const native = this.live();
    return typed("context", () => native.posMin(this.sequence(sequence)));
  }

  posMax(sequence: number): number {
    const native = this.live();
    return typed("context", () => native.posMax(this.sequence(sequence)));
  }

  clear(data = true): void {
    const native = this.live();
    typed("context", () => native.clear(data));
  }

  getState(sequence: number, options: StateOptions = {}): Uint8Array {
    const native = this.live();
    return typed("context", () => native.getState(this.sequence(sequence), options.partial ? PARTIAL_ONLY : 0));
  }

  setState(sequence: number, state: Uint8Array, options: StateOptions = {}): number {
    const native = this.live();
    if (!(state instanceof Uint8Array) || state.length === 0) {
      throw new InvalidArgumentError({ argument: "state", message: "state must be a non-empty Uint8Array from getState()" });
    }
    return typed("context", () => native.setState(this.sequence(sequence), state, options.partial ? PARTIAL_ONLY : 0));
  }

  allocation(): MemoryAllocation | null {
    const native = this.live();
    const rows = typed("context", () => native.allocation());
    return rows === null ? null : allocationOf(rows);
  }

  createSampler(config: SamplerConfig): number {
    const native = this.live();
    this.idle();
    const nativeConfig = nativeSamplerConfig(config, this.vocabSize);
    const handle = typed("context", () => {
      try {
        return native.createSampler(nativeConfig);
      } catch (error) {
        const message = (error as Error)?.message ?? "";
        if (message.startsWith("the grammar does not parse")) throw new InvalidArgumentError({ argument: "grammar", message, cause: error });
        throw error;
      }
    });
    this.samplers.add(handle);
    return handle;
  }

  freeSampler(handle: number): void {
    const native = this.live();
    this.idle();
    if (!this.samplers.delete(handle)) return;
    typed("context", () => native.freeSampler(handle));
  }

  acceptSampler(handle: number, tokens: Int32Array): void {
    const native = this.live();
    this.idle();
    if (!this.samplers.has(handle)) throw new InvalidArgumentError({ argument: "handle", message: `no sampler ${handle} in this context` });
    if (!(tokens instanceof Int32Array)) throw new InvalidArgumentError({ argument: "tokens", message: "tokens must be an Int32Array" });
    for (const token of tokens) {
      if (token < 0 || token >= this.vocabSize) throw new InvalidArgumentError({ argument: "tokens", message: `token ${token} is outside the vocabulary` });
    }
    typed("context", () => native.acceptSampler(handle, tokens));
  }

  samplerCount(): number {
    return this.disposed ? 0 : this.samplers.size;
  }

  /** Samplers are used by the decode in flight: refuse to change them until it ends. */
  private idle(): void {
    if (this.inFlight !== undefined) throw new BackendError({ code: "busy", message: "the context is busy with a decode: await it first" });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.inFlight;
    this.samplers.clear();
    this.native.dispose();
    this.onDispose(this);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** The binding's memory breakdown rows, summed per kind. */
export function allocationOf(rows: readonly { bufferType: string; model: number; context: number; compute: number }[]): MemoryAllocation {
  const buffers = rows.map((row) => ({ bufferType: row.bufferType, modelBytes: row.model, contextBytes: row.context, computeBytes: row.compute }));
  const sum = (key: "modelBytes" | "contextBytes" | "computeBytes") => buffers.reduce((total, buffer) => total + buffer[key], 0);
  return { buffers, contextBytes: sum("contextBytes"), modelBytes: sum("modelBytes"), computeBytes: sum("computeBytes") };
}
