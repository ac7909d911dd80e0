import type { Backend } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";
import { WasmBackend } from "@hybrid-llm/wasm";
import { UsageError } from "./usage-error.js";

/** Backends the CLI can run on. */
export const backendNames = ["node", "wasm"] as const;

/** `--gpu` values. */
export const gpuNames = ["auto", "cuda", "vulkan", "metal", "off"] as const;

/** Creates the backend named on the command line. */
export async function createBackend(name: string, gpu: string, usage: string): Promise<Backend> {
  if (!(gpuNames as readonly string[]).includes(gpu)) throw new UsageError(`--gpu must be one of ${gpuNames.join(", ")}, got "${gpu}"`, usage);
  switch (name) {
    case "node":
      return NodeBackend.create({ gpu: gpu === "off" ? false : (gpu as "auto" | "cuda" | "vulkan" | "metal") });
    case "wasm":
      return WasmBackend.create();
    default:
      throw new UsageError(`--backend must be one of ${backendNames.join(", ")}, got "${name}"`, usage);
  }
}
