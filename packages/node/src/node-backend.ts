import {
  type Backend,
  type BackendDevice,
  type BackendModel,
  type ContextOptions,
  type MeasuredAllocation,
  BackendError,
  BindingModel,
  DisposedError,
  InvalidArgumentError,
  type LoadModelOptions,
  type ModelSource,
  type NativeBinding,
  type NativeDevice,
  cacheSpecFromMetadata,
  parseGguf,
} from "@hybrid-llm/core";
import { readGgufFile } from "@hybrid-llm/core/node";
import { loadAddon } from "./addon.js";
import { type GpuOption, type LlamaLibrary, chooseLibrary, parseGpuOption } from "./library.js";
import { type RpcPlacement, parseRpcPlacement, rpcLibrary } from "./rpc.js";

/** Options of {@link NodeBackend.create}. */
export interface NodeBackendOptions {
  /**
   * Which llama.cpp build to use: `auto` (CUDA when an NVIDIA driver is present, Metal on Apple silicon, else CPU),
   * a specific GPU API (`cuda`, `vulkan`, `metal`), or `off` for CPU (`false` is a deprecated alias of `off`); the
   * CLI's `--gpu` takes the same words. Defaults to `auto`. Anything else is an InvalidArgumentError. One build per
   * process: later backends reuse it.
   */
  readonly gpu?: GpuOption;
  /** A folder with a libllama of the pinned release (e.g. a source build). Defaults to `$HYBRID_LLM_LIBRARY_DIR`. */
  readonly libraryDir?: string;
  /** Mirror llama.cpp's log to stderr. Defaults to `false`. */
  readonly verbose?: boolean;
  /**
   * Workers of llama.cpp's RPC backend (`rpc-server`, or `hybrid-llm rpc-server`), as `host:port`: models loaded by
   * this backend put their offloaded layers (`gpuLayers`, default all) on these servers' devices, after any local
   * GPU, so a model can be larger than one machine. A worker lost mid-request fails the decode with a `crashed`
   * BackendError (the engine's `reopen` can load the model again); it never ends this process. The RPC protocol
   * has no authentication: private networks only. See docs/rpc.md.
   */
  readonly rpcServers?: readonly string[];
  /**
   * How the offloaded layers split over the devices (local GPUs first, then each server's devices, usually one per
   * server): one weight per device, e.g. `[1, 3]`. Defaults to llama.cpp's choice (by the devices' free memory).
   */
  readonly tensorSplit?: readonly number[];
}

let loadedLibrary: LlamaLibrary | undefined;

function deviceOf(library: LlamaLibrary, devices: readonly NativeDevice[]): BackendDevice {
  const gpu = devices.find((device) => device.type === "gpu" || device.type === "igpu");
  const cpu = devices.find((device) => device.type === "cpu");
  if (gpu !== undefined) {
    const kind = library.flavour === "vulkan" ? "vulkan" : library.flavour === "metal" ? "metal" : "cuda";
    return { kind, name: gpu.description };
  }
  return { kind: "cpu", name: cpu?.description ?? "CPU" };
}

/**
 * The native backend: llama.cpp through hybrid-llm's Node-API addon, on node-llama-cpp's prebuilt libraries of the
 * pinned release (CPU, CUDA, Vulkan, Metal) or a source build.
 */
export class NodeBackend implements Backend {
  readonly specificationVersion = "v1";
  readonly name = "node";
  private disposed = false;
  private readonly models = new Set<BackendModel>();

  private constructor(
    private readonly binding: NativeBinding,
    readonly device: BackendDevice,
    /** The llama.cpp build in use. */
    readonly library: LlamaLibrary,
    /** The RPC servers models are split over, or undefined for this machine only. */
    readonly rpc: RpcPlacement | undefined,
  ) {}

  /**
   * Loads llama.cpp (the build `gpu` picks) and the addon. Throws BackendError `unavailable` when neither a prebuilt
   * nor a source-built addon or library can be loaded here, InvalidArgumentError for an unknown `gpu`.
   *
   * @example
   * ```ts
   * import { NodeBackend } from "@hybrid-llm/node";
   *
   * const backend = await NodeBackend.create({ gpu: "auto" });   // CUDA or Metal when present, else CPU
   * console.log(backend.device);                                // { kind: "cpu" | "gpu", name }
   * const model = await backend.loadModel({ path: "model.gguf" }, { onProgress: (f) => console.log(f) });
   * const context = await model.createContext({ ctx: 32768, slots: 8 });
   * // … new Engine({ model, context }) …
   * await backend.dispose();                                     // frees the model and its contexts
   * ```
   */
  static async create(options: NodeBackendOptions = {}): Promise<NodeBackend> {
    if (typeof options !== "object" || options === null) throw new InvalidArgumentError({ argument: "options", message: "NodeBackend.create takes an options object" });
    const gpu = parseGpuOption(options.gpu);
    if (options.libraryDir !== undefined && typeof options.libraryDir !== "string") {
      throw new InvalidArgumentError({ argument: "libraryDir", message: `libraryDir must be a folder path (a string), got ${typeof options.libraryDir}` });
    }
    if (options.verbose !== undefined && typeof options.verbose !== "boolean") {
      throw new InvalidArgumentError({ argument: "verbose", message: `verbose must be true or false, got ${typeof options.verbose}` });
    }
    const rpc = parseRpcPlacement(options.rpcServers, options.tensorSplit);
    const binding = loadAddon();
    const library = loadedLibrary ?? chooseLibrary(gpu, options.libraryDir);
    if (library === undefined) {
      throw new BackendError({
        code: "unavailable",
        message: `no llama.cpp build for gpu: ${gpu} on ${process.platform}-${process.arch} (is node-llama-cpp's prebuilt package installed?)`,
      });
    }
    if (loadedLibrary === undefined) {
      try {
        binding.init(library.dir);
      } catch (error) {
        throw new BackendError({ code: "unavailable", message: `could not load llama.cpp from ${library.dir}: ${(error as Error).message}`, cause: error });
      }
      loadedLibrary = library;
    }
    binding.echoLog(options.verbose ?? false);
    if (rpc !== undefined) rpcLibrary(); // built? (a BackendError that says how, before any model load)
    return new NodeBackend(binding, deviceOf(library, binding.devices()), library, rpc);
  }

  /** llama.cpp's log since the last call (allocation lines, warnings). */
  takeLog(): string {
    return this.binding.takeLog();
  }

  async loadModel(source: ModelSource, options: LoadModelOptions = {}): Promise<BackendModel> {
    if (this.disposed) throw new DisposedError({ object: "backend" });
    // Read and check the header in TypeScript first: a corrupt file or an unsupported architecture never reaches llama.cpp.
    let file;
    let nativeSource: string | Uint8Array;
    if ("path" in source && typeof source.path === "string") {
      file = await readGgufFile(source.path);
      nativeSource = source.path;
    } else if ("bytes" in source && source.bytes instanceof Uint8Array) {
      file = parseGguf(source.bytes);
      nativeSource = source.bytes;
    } else {
      throw new InvalidArgumentError({ argument: "source", message: "a model source is { path: string } or { bytes: Uint8Array }" });
    }
    const spec = cacheSpecFromMetadata(file.metadata);
    const onGpu = this.device.kind !== "cpu" || this.rpc !== undefined;
    const gpuLayers = options.gpuLayers === undefined || options.gpuLayers === "max" ? (onGpu ? -1 : 0) : options.gpuLayers;
    if (!Number.isInteger(gpuLayers) || gpuLayers < -1) {
      throw new InvalidArgumentError({ argument: "gpuLayers", message: `gpuLayers must be "max" or an integer ≥ 0, got ${String(options.gpuLayers)}` });
    }
    const model = await BindingModel.load(this.binding, nativeSource, spec, {
      identity: file.identity,
      gpuLayers,
      ...(this.rpc === undefined ? {} : { rpc: { library: rpcLibrary(), servers: this.rpc.servers, ...(this.rpc.tensorSplit === undefined ? {} : { tensorSplit: this.rpc.tensorSplit }) } }),
      ...(options.mmap === undefined ? {} : { mmap: options.mmap }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onDispose: (disposed) => this.models.delete(disposed),
    });
    this.models.add(model);
    return model;
  }

  async measureAllocations(path: string, options: readonly ContextOptions[]): Promise<MeasuredAllocation[]> {
    if (this.disposed) throw new DisposedError({ object: "backend" });
    if (!Array.isArray(options) || options.some((each) => typeof each !== "object" || each === null)) {
      throw new InvalidArgumentError({ argument: "options", message: "measureAllocations takes an array of context options" });
    }
    // The header is read and checked in TypeScript first, as for loadModel.
    const file = await readGgufFile(path);
    const spec = cacheSpecFromMetadata(file.metadata);
    return BindingModel.measure(this.binding, path, spec, options, this.device.kind === "cpu" ? 0 : -1);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all([...this.models].map((model) => model.dispose()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
