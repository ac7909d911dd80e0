/**
 * The worker that owns the Wasm module. It instantiates the binding once, then serves calls from WasmBackend over
 * two ports: asynchronous calls (load, create, decode, dispose) on the worker's own port, synchronous ones (tokenize,
 * sequence operations, state) on a second port the caller waits on with Atomics. Models and contexts are the core's
 * BindingModel / BindingContext — the same validation and typed errors as the native backend.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import {
  type BackendContext,
  BackendError,
  type BackendModel,
  BindingModel,
  HybridLlmError,
  type NativeBinding,
  cacheSpecFromMetadata,
  formatBytes,
  parseGguf,
  planContext,
  weightsBytesOf,
} from "@hybrid-llm/core";
import { readGgufFile } from "@hybrid-llm/core/node";
import type { ByteReader } from "./byte-sources.js";
import { serializeError } from "./serialize-error.js";
import { WASM32_ALLOCATABLE_BYTES, instantiateBinding } from "./instantiate.js";
import { instantiateThreadedBinding } from "./instantiate-mt.js";
import { BACKEND_TARGET, SYNC_ANSWERED, SYNC_RECEIVED, type WorkerReply, type WorkerRequest } from "./protocol.js";

const { syncPort, signal } = workerData as { syncPort: MessagePort; signal: Int32Array };
const port = parentPort!;

let binding: NativeBinding | undefined;
let memory: (() => WebAssembly.Memory) | undefined;
let crashed: string | undefined;
const objects = new Map<number, BackendModel | BackendContext>();
let nextId = 1;

function memoryBytes(): number {
  return memory?.().buffer.byteLength ?? 0;
}

function tooLarge(what: string, needed: number): BackendError {
  return new BackendError({
    code: "too-large",
    message: `${what} needs ${formatBytes(needed)} of linear memory, beyond the ${formatBytes(WASM32_ALLOCATABLE_BYTES)} a wasm32 module can address; use the native backend or a smaller model / context`,
  });
}

/** A model file the module reads in chunks while loading (byte-sources.ts): never read whole into memory. */
function fileReader(path: string): ByteReader {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    return { size, read: (target, offset) => readSync(fd, target, 0, target.length, offset), close: () => closeSync(fd) };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/**
 * Linear memory a load needs at most: what the module holds now, the weights, and slack for llama.cpp's own
 * allocations while loading (tensor metadata, the vocabulary). The file itself stays outside linear memory: the
 * module reads it in chunks (byte-sources.ts), a path straight from the disk.
 */
function loadBytesNeeded(currentBytes: number, weightsBytes: number): number {
  return currentBytes + weightsBytes + LOAD_SLACK_BYTES;
}
const LOAD_SLACK_BYTES = 64 * 1024 * 1024;

async function loadModel(source: { bytes?: Uint8Array; path?: string }, options: { requestId: number }) {
  // Header first (for a path, without reading the weights), so a model too large for wasm32 is refused up front.
  const file = source.bytes !== undefined ? parseGguf(source.bytes) : await readGgufFile(source.path!);
  const spec = cacheSpecFromMetadata(file.metadata);
  const needed = loadBytesNeeded(memoryBytes(), weightsBytesOf(file));
  if (needed > WASM32_ALLOCATABLE_BYTES) throw tooLarge("loading this model", needed);
  const model = await BindingModel.load(binding!, source.bytes ?? source.path!, spec, {
    identity: file.identity,
    gpuLayers: 0,
    onProgress: (fraction) => port.postMessage({ id: options.requestId, progress: fraction } satisfies WorkerReply),
  });
  // emnapi runs the load's progress calls (a thread-safe function) on a later turn of this thread, after the load's
  // promise settled: let them out before the reply, after which the caller no longer listens for progress.
  await new Promise((resolve) => setImmediate(resolve));
  const id = nextId++;
  objects.set(id, model);
  return { id, info: model.info };
}

async function createContext(model: BackendModel, options: Parameters<BackendModel["createContext"]>[0]) {
  const { plan } = planContext(model.info.cacheSpec, options);
  const needed = memoryBytes() + plan.attentionKvBytes + plan.recurrentStateBytes + plan.computeBytesEstimate;
  if (needed > WASM32_ALLOCATABLE_BYTES) throw tooLarge(`a context of ${plan.nCtx} tokens × ${plan.options.slots} slots (with the model)`, needed);
  const context = await model.createContext(options);
  const id = nextId++;
  objects.set(id, context);
  return { id, info: context.info };
}

async function handle(request: Extract<WorkerRequest, { kind: "call" }>): Promise<unknown> {
  if (crashed !== undefined) throw new BackendError({ code: "crashed", message: `the Wasm module crashed earlier (${crashed}); dispose this backend and create a new one` });
  const { target, method, args } = request;
  if (target === BACKEND_TARGET) {
    switch (method) {
      case "loadModel":
        return loadModel(args[0] as { bytes?: Uint8Array; path?: string }, { requestId: request.id });
      case "devices":
        return binding!.devices();
      case "systemInfo":
        return binding!.systemInfo();
      case "takeLog":
        return binding!.takeLog();
      case "memoryBytes":
        return memoryBytes();
      case "abortForTesting":
        return binding!.abortForTesting!();
      default:
        throw new BackendError({ code: "unavailable", message: `unknown backend method ${method}` });
    }
  }
  const object = objects.get(target);
  if (object === undefined) throw new BackendError({ code: "unavailable", message: `no object ${target} in the worker` });
  if (method === "createContext") return createContext(object as BackendModel, args[0] as Parameters<BackendModel["createContext"]>[0]);
  if (method === "dispose") {
    await object.dispose();
    objects.delete(target);
    return undefined;
  }
  const fn = (object as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
  if (typeof fn !== "function") throw new BackendError({ code: "unavailable", message: `unknown method ${method}` });
  return fn.apply(object, args as unknown[]);
}

/** A throw that is not one of ours came out of the module itself: a trap or abort. The instance is now unusable. */
function noteCrash(error: unknown): void {
  if (HybridLlmError.isInstance(error)) return;
  crashed = error instanceof Error ? error.message : `abort (${String(error)})`;
  objects.clear();
}

function reply(target: MessagePort | typeof port, id: number, run: () => Promise<unknown>, notify: boolean): Promise<void> {
  const send = (message: WorkerReply) => {
    try {
      target.postMessage(message);
    } catch (error) {
      // A value that cannot cross the thread boundary: the caller still gets an answer (a sync caller waits for one).
      target.postMessage({ id, ok: false, error: serializeError(error) } satisfies WorkerReply);
    }
    if (notify) {
      Atomics.store(signal, SYNC_ANSWERED, id);
      Atomics.notify(signal, SYNC_ANSWERED);
    }
  };
  return run().then(
    (value) => send({ id, ok: true, value }),
    (error: unknown) => {
      noteCrash(error);
      const serialized = serializeError(
        crashed !== undefined && !HybridLlmError.isInstance(error)
          ? new BackendError({ code: "crashed", message: `the Wasm module crashed: ${crashed}; dispose this backend and create a new one` })
          : error,
      );
      send({ id, ok: false, error: serialized });
    },
  );
}

port.on("message", (request: WorkerRequest) => {
  if (request.kind === "init") {
    void reply(port, request.id, async () => {
      const instantiated =
        request.threads > 1
          ? await instantiateThreadedBinding(request.wasm as string, request.threads, fileReader)
          : await instantiateBinding(typeof request.wasm === "string" ? new Uint8Array(await readFile(request.wasm)) : request.wasm, fileReader);
      binding = instantiated.binding;
      memory = instantiated.memory;
      binding.init("");
      return { devices: binding.devices(), systemInfo: binding.systemInfo() };
    }, false);
    return;
  }
  void reply(port, request.id, () => handle(request), false);
});

syncPort.on("message", (request: Extract<WorkerRequest, { kind: "call" }>) => {
  Atomics.store(signal, SYNC_RECEIVED, request.id);
  void reply(syncPort, request.id, () => handle(request), true);
});
