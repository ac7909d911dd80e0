import type { Backend, BackendDevice } from "../backend/backend.js";
import type { BackendContext, StateOptions } from "../backend/backend-context.js";
import type { BackendModel, DetokenizeOptions, TokenizeOptions } from "../backend/backend-model.js";
import type { ContextInfo, ContextOptions } from "../backend/context-options.js";
import type { DecodeBatch, DecodeOptions, DecodeResult } from "../backend/decode-batch.js";
import type { MemoryAllocation } from "../backend/memory-allocation.js";
import type { ModelInfo } from "../backend/model-info.js";
import type { SamplerConfig } from "../backend/sampler-config.js";
import { validateBatch } from "../binding/validate-batch.js";
import { nativeSamplerConfig, validateDecodeSampling } from "../binding/validate-sampling.js";
import { Sampler } from "../engine/sampler.js";
import type { CacheSpec } from "../cache/cache-spec.js";
import { BackendError } from "../errors/backend-error.js";
import { DisposedError } from "../errors/disposed-error.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";

/** Options of the mock backend. */
export interface MockBackendOptions {
  /** Delay of each decode in ms (to exercise cancellation and concurrency). Defaults to 0. */
  readonly decodeDelayMs?: number;
  /** The model's context length. Defaults to 4096. */
  readonly contextLength?: number;
}

const VOCAB = 260; // 0 <unk>, 1 BOS, 2 EOS, 3 <|im_end|>, 4…259 the bytes 0…255
const BYTE_OFFSET = 4;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const mockSpec: CacheSpec = Object.freeze<CacheSpec>({
  architecture: "mock-hybrid",
  kind: "hybrid",
  layerCount: 4,
  nextnLayerCount: 0,
  contextLength: 4096,
  embeddingLength: 64,
  headCount: 4,
  vocabSize: VOCAB,
  feedForwardMax: 128,
  attention: { layers: [{ layer: 1, headCountKv: 2, keyWidth: 32, valueWidth: 32, sliding: false }], storesValues: true, keyHeadDim: 16, valueHeadDim: 16, valueWidthMax: 32, slidingWindow: 0 },
  recurrent: { layers: [0, 2, 3], family: "mamba2" as const, convElements: 96, stateElements: 256 },
});

/**
 * A pure-TypeScript {@link Backend} for tests of the cache layer and the scheduler: a byte-level tokenizer and a
 * deterministic "model" whose greedy next token depends only on the sequence's own history (so batching cannot
 * change it), with llama.cpp's cache rules — one unified pool of `ctx` cells (or per-slot streams), consecutive
 * positions, `seqRemove` refusing to cut recurrent state, `no-memory-slot` when the pool is full. It records every
 * decode batch.
 */
export class MockBackend implements Backend {
  readonly specificationVersion = "v1";
  readonly name = "mock";
  readonly device: BackendDevice = { kind: "cpu", name: "mock" };
  /** Every batch decoded by any context, in order. */
  readonly batches: DecodeBatch[] = [];
  private disposed = false;
  private crashed = false;

  constructor(readonly options: MockBackendOptions = {}) {}

  async loadModel(): Promise<BackendModel> {
    if (this.disposed) throw new DisposedError({ object: "backend" });
    this.checkAlive();
    return new MockModel(this);
  }

  /** Crashes the backend like a trap in the Wasm module: this call and every later one on it fail with `crashed`. */
  async abortForTesting(): Promise<never> {
    this.crashed = true;
    this.checkAlive();
    throw new Error("unreachable");
  }

  /** @internal */
  checkAlive(): void {
    if (this.crashed) throw new BackendError({ code: "crashed", message: "the mock backend crashed (abortForTesting)" });
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

class MockModel implements BackendModel {
  readonly info: ModelInfo;
  private disposed = false;

  constructor(private readonly backend: MockBackend) {
    this.info = Object.freeze({
      architecture: mockSpec.architecture,
      description: "mock hybrid model",
      cacheSpec: { ...mockSpec, contextLength: backend.options.contextLength ?? 4096 },
      vocabSize: VOCAB,
      contextLength: backend.options.contextLength ?? 4096,
      embeddingLength: 64,
      layerCount: 4,
      isHybrid: true,
      isRecurrent: false,
      chatTemplate:
        "{% for m in messages %}{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}",
      bosToken: 1,
      eosToken: 2,
      endOfGenerationTokens: [2, 3],
      addBos: true,
      sizeBytes: 1,
      parameterCount: 1,
      identity: "mock-" + (backend.options.contextLength ?? 4096),
    });
  }

  private live(): void {
    if (this.disposed) throw new DisposedError({ object: "model" });
    this.backend.checkAlive();
  }

  tokenize(text: string, options: TokenizeOptions = {}): Int32Array {
    this.live();
    const bytes = encoder.encode(text);
    const tokens = Array.from(bytes, (b) => b + BYTE_OFFSET);
    return Int32Array.from(options.addSpecial === false ? tokens : [1, ...tokens]);
  }

  detokenize(tokens: Int32Array, options: DetokenizeOptions = {}): string {
    this.live();
    return [...tokens].map((t) => decoder.decode(this.tokenBytes(t, { special: !options.removeSpecial }))).join("");
  }

  tokenBytes(token: number, options: { readonly special?: boolean } = {}): Uint8Array {
    this.live();
    if (token >= BYTE_OFFSET) return Uint8Array.of(token - BYTE_OFFSET);
    return options.special ? encoder.encode(["<unk>", "<s>", "</s>", "<|im_end|>"][token]) : new Uint8Array();
  }

  /** The mock does not constrain output by grammars: it only asks for a `root` rule. */
  grammarError(grammar: string): string | null {
    this.live();
    return /(^|\n)\s*root\s*::=/.test(grammar) ? null : "no root rule";
  }

  async createContext(options: ContextOptions): Promise<BackendContext> {
    this.live();
    const slots = options.slots ?? 1;
    const unified = options.unified ?? true;
    const nCtx = Math.ceil(options.ctx / 256) * 256;
    const cellsPerStream = unified ? nCtx : Math.ceil(Math.floor(nCtx / slots) / 256) * 256;
    const info: ContextInfo = {
      nCtx: unified ? nCtx : cellsPerStream * slots,
      cellsPerStream,
      slots,
      unified,
      batch: options.batch ?? 512,
      ubatch: options.ubatch ?? 512,
      kvTypeK: options.kvTypeK ?? options.kvType ?? "f16",
      kvTypeV: options.kvTypeV ?? options.kvType ?? "f16",
      swaFull: options.swaFull ?? true,
    };
    return new MockContext(this.backend, info);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

/** The mock model: the greedy next token of a sequence is a hash of its last three tokens, EOS after a ".". */
function nextToken(history: readonly number[]): number {
  const last = history.at(-1) ?? 0;
  if (last === ".".charCodeAt(0) + BYTE_OFFSET) return 2;
  const a = history.at(-2) ?? 0;
  const b = history.at(-3) ?? 0;
  // Printable ASCII, letters mostly, occasionally "." — deterministic per history.
  const h = (last * 31 + a * 17 + b * 7 + history.length * 3) % 97;
  const char = h < 3 ? "." : h < 15 ? " " : String.fromCharCode(97 + (h % 26));
  return char.charCodeAt(0) + BYTE_OFFSET;
}

/** One attention cell: a token at a position, shared by every sequence that references the same object. */
interface MockCell {
  readonly token: number;
}

/**
 * A sequence as a hybrid model holds it: attention cells by position (shareable, cut anywhere) and a recurrent
 * state — here the whole token history it has consumed — that can only be kept or dropped whole.
 */
interface MockSequence {
  kv: MockCell[];
  recurrent: number[];
}

class MockContext implements BackendContext {
  private readonly sequences = new Map<number, MockSequence>();
  /** Samplers by handle: the TypeScript reference {@link Sampler} over the mock's one-hot logits. */
  private readonly samplers = new Map<number, Sampler>();
  private nextSampler = 1;
  private disposed = false;
  private busy = false;

  constructor(
    private readonly backend: MockBackend,
    readonly info: ContextInfo,
  ) {}

  private live(): void {
    if (this.disposed) throw new DisposedError({ object: "context" });
    this.backend.checkAlive();
    if (this.busy) throw new BackendError({ code: "busy", message: "the context is busy with a decode" });
  }

  private sequence(id: number): MockSequence {
    if (!Number.isInteger(id) || id < 0 || id >= this.info.slots) {
      throw new InvalidArgumentError({ argument: "sequence", message: `sequence id ${id} is outside the slots` });
    }
    let sequence = this.sequences.get(id);
    if (sequence === undefined) this.sequences.set(id, (sequence = { kv: [], recurrent: [] }));
    return sequence;
  }

  /** Distinct cells in use (shared cells once), as llama.cpp's unified cache counts them. */
  private cellsInUse(): number {
    const cells = new Set<MockCell>();
    for (const sequence of this.sequences.values()) for (const cell of sequence.kv) cells.add(cell);
    return cells.size;
  }

  async decode(batch: DecodeBatch, options: DecodeOptions = {}): Promise<DecodeResult> {
    this.live();
    validateBatch(batch, { batch: this.info.batch, slots: this.info.slots, vocabSize: VOCAB });
    validateDecodeSampling(options, batch.outputs.reduce((n, o) => n + (o ? 1 : 0), 0), new Set(this.samplers.keys()));
    const added = new Map<number, number>();
    for (let i = 0; i < batch.tokens.length; i++) {
      const id = batch.sequenceIds[i]!;
      const sequence = this.sequence(id);
      if (sequence.kv.length !== sequence.recurrent.length) {
        throw new InvalidArgumentError({ argument: "positions", message: `sequence ${id}: attention cells end at ${sequence.kv.length - 1}, recurrent state at ${sequence.recurrent.length - 1}` });
      }
      const expected = sequence.kv.length + (added.get(id) ?? 0);
      if (batch.positions[i] !== expected) {
        throw new InvalidArgumentError({ argument: "positions", message: `sequence ${id}: position ${batch.positions[i]} does not continue ${expected - 1}` });
      }
      added.set(id, (added.get(id) ?? 0) + 1);
    }
    const fits = this.info.unified
      ? this.cellsInUse() + batch.tokens.length <= this.info.nCtx
      : [...added].every(([id, n]) => this.sequence(id).kv.length + n <= this.info.cellsPerStream);
    if (!fits) throw new BackendError({ code: "no-memory-slot", message: "no room in the KV cache for this batch" });
    this.backend.batches.push({ tokens: batch.tokens.slice(), positions: batch.positions.slice(), sequenceIds: batch.sequenceIds.slice(), outputs: batch.outputs.slice() });
    this.busy = true;
    try {
      if (this.backend.options.decodeDelayMs) await new Promise((resolve) => setTimeout(resolve, this.backend.options.decodeDelayMs));
      else await Promise.resolve();
    } finally {
      this.busy = false;
    }
    if (this.disposed) throw new DisposedError({ object: "context" });
    this.backend.checkAlive();
    const rows: number[] = [];
    const argmax: number[] = [];
    const logits: number[] = [];
    const tokens: number[] = [];
    const logprobs: number[] = [];
    const topTokens: number[] = [];
    const topLogprobs: number[] = [];
    const topStride = Math.max(0, ...(options.logprobs ?? []));
    for (let i = 0; i < batch.tokens.length; i++) {
      const sequence = this.sequence(batch.sequenceIds[i]!);
      sequence.kv.push({ token: batch.tokens[i]! });
      sequence.recurrent.push(batch.tokens[i]!);
      if (batch.outputs[i]) {
        // The recurrent state and the attention cells must describe the same tokens; a restore that paired a
        // checkpoint with the wrong cells shows up as a different token.
        const consistent = sequence.kv.every((cell, p) => cell.token === sequence.recurrent[p]);
        const next = consistent ? nextToken(sequence.recurrent) : BYTE_OFFSET + ((nextToken(sequence.recurrent) - BYTE_OFFSET + 1) % 256);
        const row = new Float32Array(VOCAB);
        row[next] = 1;
        const handle = options.samplers?.[rows.length] ?? -1;
        const token = handle === -1 ? next : this.samplers.get(handle)!.sample(row);
        const top = options.logprobs?.[rows.length] ?? -1;
        rows.push(i);
        argmax.push(next);
        tokens.push(token);
        if (options.returnLogits) logits.push(...row);
        // log_softmax of a one-hot row: the hot token first, then the others in id order.
        const lse = Math.log(Math.E + VOCAB - 1);
        logprobs.push(top === -1 ? Number.NaN : (token === next ? 1 : 0) - lse);
        const order = [next, ...Array.from({ length: VOCAB }, (_, t) => t).filter((t) => t !== next)];
        for (let k = 0; k < topStride; k++) {
          topTokens.push(k < top ? order[k]! : -1);
          topLogprobs.push(k < top ? (k === 0 ? 1 : 0) - lse : Number.NaN);
        }
      }
    }
    return {
      rows: Int32Array.from(rows),
      argmax: Int32Array.from(argmax),
      margins: new Float32Array(rows.length).fill(1),
      ...(options.returnLogits ? { logits: Float32Array.from(logits) } : {}),
      ...(options.samplers ? { tokens: Int32Array.from(tokens) } : {}),
      ...(options.logprobs ? { logprobs: Float32Array.from(logprobs), topTokens: Int32Array.from(topTokens), topLogprobs: Float32Array.from(topLogprobs) } : {}),
    };
  }

  seqRemove(id: number, p0 = -1, p1 = -1): boolean {
    this.live();
    const sequence = this.sequence(id);
    const from = Math.max(0, p0);
    const to = p1 < 0 ? Number.POSITIVE_INFINITY : p1;
    // llama.cpp's recurrent rule: the state can be dropped whole, or left alone when the range lies past it.
    const last = sequence.recurrent.length - 1;
    if (last >= 0) {
      if (from > 0 && from <= last && to > last) return false;
      if (from <= last && last < to) sequence.recurrent = [];
    }
    if (from < sequence.kv.length && to < sequence.kv.length) {
      throw new BackendError({ code: "unavailable", message: "the mock removes only a suffix of the attention cells" });
    }
    sequence.kv = sequence.kv.slice(0, Math.min(from, sequence.kv.length));
    return true;
  }

  seqCopy(source: number, destination: number, p0 = -1, p1 = -1): void {
    this.live();
    const from = this.sequence(source);
    const to = this.sequence(destination);
    if (source === destination) return;
    if (to.kv.length > 0) throw new BackendError({ code: "unavailable", message: "the mock copies only into an empty sequence" });
    // Cells in range are shared (the same objects); the recurrent state is the source's, whatever the range.
    to.kv = from.kv.slice(Math.max(0, p0), p1 < 0 ? undefined : p1);
    to.recurrent = [...from.recurrent];
  }

  seqKeep(id: number): void {
    this.live();
    for (const key of [...this.sequences.keys()]) if (key !== id) this.sequences.delete(key);
  }

  seqAdd(): void {
    throw new BackendError({ code: "unavailable", message: "the mock does not shift positions" });
  }

  posMin(id: number): number {
    this.live();
    return this.sequence(id).kv.length > 0 ? 0 : -1;
  }

  posMax(id: number): number {
    this.live();
    return this.sequence(id).kv.length - 1;
  }

  clear(): void {
    this.live();
    this.sequences.clear();
  }

  getState(id: number, options: StateOptions = {}): Uint8Array {
    this.live();
    const sequence = this.sequence(id);
    const state = options.partial ? { recurrent: sequence.recurrent } : { kv: sequence.kv.map((c) => c.token), recurrent: sequence.recurrent };
    return encoder.encode(JSON.stringify(state));
  }

  setState(id: number, bytes: Uint8Array, options: StateOptions = {}): number {
    this.live();
    const sequence = this.sequence(id);
    let state: { kv?: number[]; recurrent?: number[] };
    try {
      state = JSON.parse(decoder.decode(bytes)) as typeof state;
    } catch {
      throw new BackendError({ code: "unavailable", message: "not a state of this context" });
    }
    if (!Array.isArray(state.recurrent) || (options.partial ? state.kv !== undefined : !Array.isArray(state.kv))) {
      throw new BackendError({ code: "unavailable", message: "the state does not match the flags it is restored with" });
    }
    sequence.recurrent = [...state.recurrent];
    if (!options.partial) sequence.kv = state.kv!.map((token) => ({ token }));
    return bytes.length;
  }

  allocation(): MemoryAllocation | null {
    this.live();
    return null;
  }

  createSampler(config: SamplerConfig): number {
    this.live();
    const checked = nativeSamplerConfig(config, VOCAB);
    if (checked.grammar !== undefined) {
      const reason = /(^|\n)\s*root\s*::=/.test(checked.grammar) ? null : "no root rule";
      if (reason !== null) throw new InvalidArgumentError({ argument: "grammar", message: `the grammar does not parse: ${reason}` });
    }
    const handle = this.nextSampler++;
    this.samplers.set(handle, new Sampler(config));
    return handle;
  }

  freeSampler(handle: number): void {
    this.live();
    this.samplers.delete(handle);
  }

  acceptSampler(handle: number, tokens: Int32Array): void {
    this.live();
    const sampler = this.samplers.get(handle);
    if (sampler === undefined) throw new InvalidArgumentError({ argument: "handle", message: `no sampler ${handle}` });
    for (const token of tokens) sampler.accept(token);
  }

  samplerCount(): number {
    return this.samplers.size;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}
