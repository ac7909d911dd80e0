import { type Backend, InvalidArgumentError } from "@hybrid-llm/core";
import { type GpuName, NodeBackend, type RpcPlacement, defaultGpu, gpuNames, parseRpcPlacement } from "@hybrid-llm/node";
import { WasmBackend } from "@hybrid-llm/wasm";
import { UsageError } from "./usage-error.js";

/** Backends the CLI can run on. */
export const backendNames = ["node", "wasm"] as const;
export type BackendName = (typeof backendNames)[number];

/**
 * `--gpu` values are the API's `NodeBackend.create({ gpu })` words ({@link gpuNames}, default {@link defaultGpu}):
 * which llama.cpp build the native backend loads. The Wasm backend runs on the CPU whatever the value, so with
 * `--backend wasm` only `auto` and `off` are accepted.
 */
export { defaultGpu, type GpuName, gpuNames };

/** The `--gpu` line every command's usage shows, after the option's name. */
export const gpuUsage = `${gpuNames.join(", ")} (default: ${defaultGpu}: CUDA or Metal if present, else CPU)`;

/** Parses `--backend`; anything else is a usage error listing the valid names. */
export function backendOption(text: string, usage: string): BackendName {
  if (!(backendNames as readonly string[]).includes(text)) throw new UsageError(`--backend must be one of ${backendNames.join(", ")}, got "${text}"`, usage);
  return text as BackendName;
}

/** Parses `--gpu` (for `backend`); anything else is a usage error listing the valid values. */
export function gpuOption(text: string, usage: string, backend: BackendName = "node"): GpuName {
  if (!(gpuNames as readonly string[]).includes(text)) throw new UsageError(`--gpu must be one of ${gpuNames.join(", ")}, got "${text}"`, usage);
  if (backend === "wasm" && text !== "auto" && text !== "off") {
    throw new UsageError(`--gpu ${text} needs --backend node: the Wasm backend runs on the CPU (--gpu auto or off)`, usage);
  }
  return text as GpuName;
}

/** The `--rpc` / `--tensor-split` lines of a command's usage (node backend only). */
export const rpcUsage = `  --rpc <host:port,...>  put the layers on llama.cpp RPC workers (hybrid-llm rpc-server; node backend)
  --tensor-split <w,...> how layers split over the devices: local GPUs, then the workers (default: by free memory)`;

/**
 * Parses `--rpc host:port,...` and `--tensor-split w,...` (both undefined: no RPC). Bad values, or RPC with the
 * Wasm backend (no sockets there), are usage errors.
 */
export function rpcOption(rpc: string | undefined, split: string | undefined, usage: string, backend: BackendName = "node"): RpcPlacement | undefined {
  if (rpc === undefined && split === undefined) return undefined;
  if (backend === "wasm") throw new UsageError("--rpc needs --backend node: the Wasm backend has no RPC", usage);
  try {
    return parseRpcPlacement(rpc?.split(","), split?.split(",").map((weight) => (weight.trim() === "" ? Number.NaN : Number(weight))));
  } catch (error) {
    if (InvalidArgumentError.isInstance(error)) throw new UsageError(`--${error.argument === "tensorSplit" ? "tensor-split" : "rpc"}: ${error.message}`, usage);
    throw error;
  }
}

/**
 * Creates the backend named on the command line (names and RPC placement already parsed). `threads` (`--threads`)
 * sizes the Wasm backend's thread pool: above 1 it runs the multi-threaded module (a BackendError `unavailable` says
 * so where that cannot work).
 */
export async function createBackend(name: BackendName, gpu: GpuName, rpc?: RpcPlacement, threads = 1): Promise<Backend> {
  switch (name) {
    case "node":
      return NodeBackend.create({ gpu, ...(rpc === undefined ? {} : { rpcServers: rpc.servers, ...(rpc.tensorSplit === undefined ? {} : { tensorSplit: rpc.tensorSplit }) }) });
    case "wasm":
      return WasmBackend.create({ threads });
  }
}
