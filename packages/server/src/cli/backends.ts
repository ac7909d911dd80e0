import type { Backend } from "@hybrid-llm/core";
import { type GpuName, NodeBackend, defaultGpu, gpuNames } from "@hybrid-llm/node";
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

/** Creates the backend named on the command line (both names already parsed). */
export async function createBackend(name: BackendName, gpu: GpuName): Promise<Backend> {
  switch (name) {
    case "node":
      return NodeBackend.create({ gpu });
    case "wasm":
      return WasmBackend.create();
  }
}
