import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from "node:worker_threads";
import {
  type Backend,
  type BackendContext,
  type BackendDevice,
  BackendError,
  type BackendModel,
  type ContextInfo,
  type ContextOptions,
  type DecodeBatch,
  type DecodeOptions,
  type DecodeResult,
  type DetokenizeOptions,
  DisposedError,
  InvalidArgumentError,
  type LoadModelOptions,
  type MemoryAllocation,
  type ModelInfo,
  type ModelSource,
  type SamplerConfig,
  type NativeDevice,
  type StateOptions,
  type TokenizeOptions,
  TokenPieceTables,
  type TokenPieces,
} from "@hybrid-llm/core";
import { reviveError } from "./revive-error.js";
import { BACKEND_TARGET, SYNC_ANSWERED, SYNC_RECEIVED, SYNC_WORDS, type WorkerReply, type WorkerRequest } from "./protocol.js";

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Options of {@link WasmBackend.create}. */
export interface WasmBackendOptions {
  /** The module: a path, or its bytes. Defaults to the build next to this package (`build/hybrid-llm.wasm`). */
  readonly wasm?: string | Uint8Array;
  /** Longest a synchronous call (tokenize, sequence operations) may wait for the worker, in ms (a positive number;
   * `Infinity`: no limit). Defaults to 600 000. A call that runs out of it leaves the backend `crashed`: its answer
   * could otherwise be read as the next call's. */
  readonly syncTimeoutMs?: number;
  /**
   * CPU threads llama.cpp may use (1 to 64; default 1). 1 runs the single-threaded module (`wasm`). Above 1 runs the
   * multi-threaded build (`build/hybrid-llm-mt.js`: emscripten pthreads on shared memory), with `threads - 1` worker
   * threads started up front; it needs `SharedArrayBuffer` (in browsers: cross-origin isolation) and that build. When
   * either is missing, {@link WasmBackend.create} throws a BackendError `unavailable` rather than quietly running on
   * one thread: check {@link WasmBackend.threadsAvailable} to choose. Contexts default to this many threads and may ask
   * for fewer, not more.
   */
  readonly threads?: number;
}

/** Most threads a Wasm backend may start (each is a worker thread holding an instance of the module). */
export const MAX_WASM_THREADS = 64;

/** Where `npm install` (wasm/build.mjs) puts the module. */
export const defaultWasmPath = fileURLToPath(new URL("../build/hybrid-llm.wasm", import.meta.url));

/** Where `npm install` (wasm/build.mjs) puts the multi-threaded build's glue (next to `hybrid-llm-mt.wasm`). */
export const defaultWasmThreadsPath = fileURLToPath(new URL("../build/hybrid-llm-mt.js", import.meta.url));

/** Why threads are unavailable here, or undefined when they are. */
function threadsUnavailableReason(): string | undefined {
  if (typeof SharedArrayBuffer !== "function" || typeof Atomics !== "object") {
    return "SharedArrayBuffer is unavailable (in a browser the page must be cross-origin isolated)";
  }
  for (const suffix of [".js", ".wasm", ".worker.js"]) {
    const file = defaultWasmThreadsPath.replace(/\.js$/, suffix);
    if (!existsSync(file)) return `the multi-threaded Wasm build is missing (${file}); run "npm run build:wasm" (needs emscripten)`;
  }
  return undefined;
}

function workerUrl(): URL {
  const beside = new URL("./worker.js", import.meta.url);
  // Running from TypeScript sources (tests): the worker is the built one.
  return import.meta.url.endsWith(".ts") ? new URL("../dist/worker.js", import.meta.url) : beside;
}

/**
 * The Wasm backend: llama.cpp and hybrid-llm's Node-API binding compiled to one wasm32 module (emscripten + emnapi),
 * run in a worker thread so decoding never blocks the caller's event loop. Same interface, same validation and same
 * tokens as the native backend; CPU only, 4 GB address space; one thread, or several with `threads` (the
 * multi-threaded build).
 */
export class WasmBackend implements Backend {
  readonly specificationVersion = "v1";
  readonly name = "wasm";
  private disposed = false;
  private crashed: string | undefined;
  private nextRequest = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; onProgress?: (fraction: number) => void }>();
  private readonly models = new Set<WasmModel>();

  private facts: { device: BackendDevice; systemInfo: string } = { device: { kind: "wasm", name: "wasm32" }, systemInfo: "" };

  private constructor(
    private readonly worker: Worker,
    private readonly syncPort: MessagePort,
    private readonly signal: Int32Array,
    private readonly syncTimeoutMs: number,
    /** CPU threads the module may use ({@link WasmBackendOptions.threads}). */
    readonly threads: number,
  ) {}

  /** Whether {@link WasmBackendOptions.threads} above 1 can work here: shared memory and the multi-threaded build. */
  static threadsAvailable(): boolean {
    return threadsUnavailableReason() === undefined;
  }

  /** The CPU the module runs on. */
  get device(): BackendDevice {
    return this.facts.device;
  }

  /** llama.cpp's system info line of the module (`WASM_SIMD = 1 | …`). */
  get systemInfo(): string {
    return this.facts.systemInfo;
  }

  /**
   * Starts the worker and instantiates the module. Throws BackendError `unavailable` when the module or the worker
   * script is missing (`npm run build:wasm`, `npm run build`).
   *
   * @example In Node, or in Deno with --allow-read --allow-write --allow-env
   * ```ts
   * import { buildFixture, generateOnce } from "@hybrid-llm/core";
   * import { WasmBackend } from "@hybrid-llm/wasm";
   *
   * const backend = await WasmBackend.create();
   * const model = await backend.loadModel({ bytes: buildFixture("tiny") });
   * const context = await model.createContext({ ctx: 4096, slots: 1 });
   * const { tokens } = await generateOnce(model, context, model.tokenize("Once upon a time"), { temperature: 0, maxTokens: 24 });
   * console.log(model.detokenize(Int32Array.from(tokens)));
   * await backend.dispose();
   * ```
   */
  static async create(options: WasmBackendOptions = {}): Promise<WasmBackend> {
    const threads = options.threads ?? 1;
    if (typeof threads !== "number" || !Number.isInteger(threads) || threads < 1 || threads > MAX_WASM_THREADS) {
      throw new InvalidArgumentError({ argument: "threads", message: `threads must be an integer from 1 to ${MAX_WASM_THREADS}, got ${String(threads)}` });
    }
    const syncTimeoutMs = options.syncTimeoutMs ?? 600_000;
    if (typeof syncTimeoutMs !== "number" || Number.isNaN(syncTimeoutMs) || syncTimeoutMs <= 0) {
      throw new InvalidArgumentError({ argument: "syncTimeoutMs", message: `syncTimeoutMs must be a positive number of milliseconds (Infinity: no limit), got ${String(syncTimeoutMs)}` });
    }
    if (threads > 1) {
      const reason = threadsUnavailableReason();
      if (reason !== undefined) throw new BackendError({ code: "unavailable", message: `${threads} Wasm threads are unavailable: ${reason}; use threads: 1` });
      if (options.wasm !== undefined) throw new InvalidArgumentError({ argument: "wasm", message: "wasm names the single-threaded module; with threads above 1 the multi-threaded build is used: leave wasm out" });
    }
    const wasm = threads > 1 ? defaultWasmThreadsPath : (options.wasm ?? defaultWasmPath);
    if (typeof wasm === "string" && !existsSync(wasm)) {
      throw new BackendError({ code: "unavailable", message: `the Wasm module is not built (${wasm}); run "npm run build:wasm" (needs emscripten)` });
    }
    const url = workerUrl();
    if (!existsSync(fileURLToPath(url))) {
      throw new BackendError({ code: "unavailable", message: `the Wasm worker script is missing (${fileURLToPath(url)}); run "npm run build"` });
    }
    const signal = new Int32Array(new SharedArrayBuffer(SYNC_WORDS * Int32Array.BYTES_PER_ELEMENT));
    const { port1, port2 } = new MessageChannel();
    // execArgv: [] so the worker resolves packages normally even when the caller runs with custom conditions (tests).
    const worker = new Worker(url, { workerData: { syncPort: port2, signal }, transferList: [port2], execArgv: [] });
    worker.unref();
    const backend = new WasmBackend(worker, port1, signal, syncTimeoutMs, threads);
    backend.listen();
    try {
      const facts = await backend.request<{ devices: NativeDevice[]; systemInfo: string }>({ kind: "init", wasm, threads });
      const cpu = facts.devices.find((device) => device.type === "cpu");
      backend.facts = { device: { kind: "wasm", name: cpu?.description ?? "wasm32" }, systemInfo: facts.systemInfo };
    } catch (error) {
      await worker.terminate();
      throw error;
    }
    return backend;
  }

  private listen(): void {
    this.worker.on("message", (reply: WorkerReply) => {
      const entry = this.pending.get(reply.id);
      if (entry === undefined) return;
      if ("progress" in reply) {
        entry.onProgress?.(reply.progress);
        return;
      }
      this.pending.delete(reply.id);
      if (reply.ok) entry.resolve(reply.value);
      else entry.reject(reviveError(reply.error));
    });
    this.worker.on("error", (error) => this.fail(error.message));
    this.worker.on("exit", (code) => {
      if (!this.disposed) this.fail(`exit code ${code}`);
    });
  }

  /** The worker is gone, or its sync channel is out of step: every pending and later call fails with the reason. */
  private fail(reason: string): BackendError {
    this.crashed ??= reason;
    const error = () => new BackendError({ code: "crashed", message: `the Wasm worker stopped: ${reason}; dispose this backend and create a new one` });
    for (const entry of this.pending.values()) entry.reject(error());
    this.pending.clear();
    return error();
  }

  /** @internal */
  checkUsable(object = "backend"): void {
    if (this.disposed) throw new DisposedError({ object });
    if (this.crashed !== undefined) throw new BackendError({ code: "crashed", message: `the Wasm worker stopped: ${this.crashed}; dispose this backend and create a new one` });
  }

  /** @internal An asynchronous call into the worker. */
  call<T>(target: number, method: string, args: readonly unknown[] = [], onProgress?: (fraction: number) => void): Promise<T> {
    this.checkUsable();
    return this.request<T>({ kind: "call", target, method, args }, onProgress);
  }

  private request<T>(message: DistributiveOmit<WorkerRequest, "id">, onProgress?: (fraction: number) => void): Promise<T> {
    const id = this.nextRequest++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, ...(onProgress ? { onProgress } : {}) });
      this.worker.ref(); // keep the process alive while the worker works for us
      this.worker.postMessage({ ...message, id });
    }).finally(() => {
      if (this.pending.size === 0) this.worker.unref();
    });
  }

  /**
   * @internal A synchronous call: posts on the sync port and waits (Atomics) for the worker's answer. Only for calls
   * that are quick in llama.cpp; the caller checks busy state first so this never waits behind a decode.
   */
  callSync<T>(target: number, method: string, args: readonly unknown[] = []): T {
    this.checkUsable();
    const id = this.nextRequest++;
    this.syncPort.postMessage({ kind: "call", id, target, method, args });
    const expected = id | 0; // as the Int32Array holds it
    const deadline = performance.now() + this.syncTimeoutMs;
    let answered = Atomics.load(this.signal, SYNC_ANSWERED);
    while (answered !== expected) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      Atomics.wait(this.signal, SYNC_ANSWERED, answered, left);
      answered = Atomics.load(this.signal, SYNC_ANSWERED);
    }
    const reply = answered === expected ? (receiveMessageOnPort(this.syncPort)?.message as WorkerReply | undefined) : undefined;
    if (reply === undefined || reply.id !== id || "progress" in reply) {
      // A late answer would otherwise be read as the next call's: the channel is out of step for good.
      const why =
        answered !== expected
          ? `no answer within ${this.syncTimeoutMs} ms`
          : reply === undefined
            ? "it said it answered, but no answer is on the port"
            : `the answer on the port is ${"progress" in reply ? "a progress message" : `for request ${reply.id}`}`;
      const worker = `the worker last received request ${Atomics.load(this.signal, SYNC_RECEIVED)} and answered ${answered}`;
      throw this.fail(`it did not answer ${method} (request ${id}): ${why}; ${worker}`);
    }
    if (!reply.ok) throw reviveError(reply.error);
    return reply.value as T;
  }

  async loadModel(source: ModelSource, options: LoadModelOptions = {}): Promise<BackendModel> {
    this.checkUsable();
    if (options.signal?.aborted) throw new BackendError({ code: "aborted", message: "the load was aborted before it started" });
    let payload: { bytes?: Uint8Array; path?: string };
    if ("path" in source && typeof source.path === "string") payload = { path: source.path };
    else if ("bytes" in source && source.bytes instanceof Uint8Array) payload = { bytes: source.bytes };
    else throw new InvalidArgumentError({ argument: "source", message: "a model source is { path: string } or { bytes: Uint8Array }" });
    const { id, info } = await this.call<{ id: number; info: ModelInfo }>(BACKEND_TARGET, "loadModel", [payload], options.onProgress);
    const model = new WasmModel(this, id, info, (m) => this.models.delete(m));
    this.models.add(model);
    return model;
  }

  /** llama.cpp's log since the last call. */
  takeLog(): Promise<string> {
    return this.call<string>(BACKEND_TARGET, "takeLog");
  }

  /** Current size of the module's linear memory in bytes. */
  memoryBytes(): Promise<number> {
    return this.call<number>(BACKEND_TARGET, "memoryBytes");
  }

  /** @internal Aborts inside the module like a failed GGML_ASSERT; for tests of crash isolation. */
  abortForTesting(): Promise<never> {
    return this.call<never>(BACKEND_TARGET, "abortForTesting");
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    if (this.crashed === undefined) await Promise.all([...this.models].map((model) => model.dispose().catch(() => undefined)));
    this.disposed = true;
    this.syncPort.close();
    await this.worker.terminate();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

class WasmModel implements BackendModel {
  private disposed = false;
  private readonly contexts = new Set<WasmContext>();
  /**
   * Every token's bytes, without and with `special`, fetched from the worker in one synchronous call at the first
   * ask. The engine asks for every token it generates (its text), once per row per step: one round trip to the
   * worker each (~70 µs, blocking this thread) would be most of a step's JavaScript.
   */
  private readonly pieces: TokenPieceTables;

  constructor(
    private readonly backend: WasmBackend,
    private readonly id: number,
    readonly info: ModelInfo,
    private readonly onDispose: (model: WasmModel) => void,
  ) {
    this.pieces = new TokenPieceTables(info.vocabSize, (special) => backend.callSync<TokenPieces>(id, "tokenPieces", [special]));
  }

  private live(): void {
    if (this.disposed) throw new DisposedError({ object: "model" });
    this.backend.checkUsable("model");
  }

  tokenize(text: string, options: TokenizeOptions = {}): Int32Array {
    this.live();
    return this.backend.callSync(this.id, "tokenize", [text, options]);
  }

  detokenize(tokens: Int32Array, options: DetokenizeOptions = {}): string {
    this.live();
    return this.backend.callSync(this.id, "detokenize", [tokens, options]);
  }

  tokenBytes(token: number, options: { readonly special?: boolean } = {}): Uint8Array {
    this.live();
    return this.pieces.tokenBytes(token, options); // a copy: a caller's change cannot reach the next one
  }

  grammarError(grammar: string): string | null {
    this.live();
    return this.backend.callSync(this.id, "grammarError", [grammar]);
  }

  async createContext(options: ContextOptions): Promise<BackendContext> {
    this.live();
    // More threads than the module started would leave llama.cpp waiting for workers that never come.
    const threads: unknown = (options as { threads?: unknown }).threads;
    if (typeof threads === "number" && threads > this.backend.threads) {
      throw new InvalidArgumentError({
        argument: "threads",
        message: `this Wasm backend runs ${this.backend.threads} thread(s); a context may use up to that many, not ${threads} (WasmBackend.create({ threads }))`,
      });
    }
    const resolved = threads === undefined ? { ...options, threads: this.backend.threads } : options;
    const { id, info } = await this.backend.call<{ id: number; info: ContextInfo }>(this.id, "createContext", [resolved]);
    const context = new WasmContext(this.backend, id, info, (c) => this.contexts.delete(c));
    this.contexts.add(context);
    return context;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all([...this.contexts].map((context) => context.dispose()));
    await this.backend.call(this.id, "dispose");
    this.onDispose(this);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

class WasmContext implements BackendContext {
  private disposed = false;
  private inFlight: Promise<unknown> | undefined;
  private readonly samplers = new Set<number>();

  constructor(
    private readonly backend: WasmBackend,
    private readonly id: number,
    readonly info: ContextInfo,
    private readonly onDispose: (context: WasmContext) => void,
  ) {}

  private sync<T>(method: string, args: readonly unknown[]): T {
    if (this.disposed) throw new DisposedError({ object: "context" });
    if (this.inFlight !== undefined) throw new BackendError({ code: "busy", message: "the context is busy with a decode: await it first" });
    return this.backend.callSync(this.id, method, args);
  }

  async decode(batch: DecodeBatch, options: DecodeOptions = {}): Promise<DecodeResult> {
    if (this.disposed) throw new DisposedError({ object: "context" });
    if (this.inFlight !== undefined) throw new BackendError({ code: "busy", message: "the context is busy with a decode: await it first" });
    const call = this.backend.call<DecodeResult>(this.id, "decode", [batch, options]);
    this.inFlight = call.catch(() => undefined);
    try {
      return await call;
    } finally {
      this.inFlight = undefined;
    }
  }

  seqRemove(sequence: number, p0?: number, p1?: number): boolean {
    return this.sync("seqRemove", [sequence, p0, p1]);
  }
  seqCopy(source: number, destination: number, p0?: number, p1?: number): void {
    this.sync("seqCopy", [source, destination, p0, p1]);
  }
  seqKeep(sequence: number): void {
    this.sync("seqKeep", [sequence]);
  }
  seqAdd(sequence: number, p0: number, p1: number, delta: number): void {
    this.sync("seqAdd", [sequence, p0, p1, delta]);
  }
  posMin(sequence: number): number {
    return this.sync("posMin", [sequence]);
  }
  posMax(sequence: number): number {
    return this.sync("posMax", [sequence]);
  }
  clear(data = true): void {
    this.sync("clear", [data]);
  }
  getState(sequence: number, options: StateOptions = {}): Uint8Array {
    return this.sync("getState", [sequence, options]);
  }
  setState(sequence: number, state: Uint8Array, options: StateOptions = {}): number {
    return this.sync("setState", [sequence, state, options]);
  }
  allocation(): MemoryAllocation | null {
    return this.sync("allocation", []);
  }
  createSampler(config: SamplerConfig): number {
    const handle = this.sync<number>("createSampler", [config]);
    this.samplers.add(handle);
    return handle;
  }
  freeSampler(handle: number): void {
    this.sync("freeSampler", [handle]);
    this.samplers.delete(handle);
  }
  acceptSampler(handle: number, tokens: Int32Array): void {
    this.sync("acceptSampler", [handle, tokens]);
  }
  /** Counted here (the worker's BindingContext counts the same handles), so it answers during a decode too. */
  samplerCount(): number {
    return this.samplers.size;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.inFlight;
    await this.backend.call(this.id, "dispose").catch(() => undefined);
    this.onDispose(this);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
