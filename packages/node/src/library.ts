import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { InvalidArgumentError } from "@hybrid-llm/core";

/**
 * The GPU choices of the native backend, the same words as the CLI's `--gpu`: `auto` (CUDA when an NVIDIA driver is
 * present, Metal on Apple silicon, else CPU), a GPU API, or `off` (the CPU build).
 */
export const gpuNames = ["auto", "cuda", "vulkan", "metal", "off"] as const;

/** One of {@link gpuNames}. */
export type GpuName = (typeof gpuNames)[number];

/** GPU choice for the native backend: a {@link GpuName}, or `false`, a deprecated alias of `"off"`. */
export type GpuOption = GpuName | false;

/** The default GPU choice, of the API and of every CLI command. */
export const defaultGpu: GpuName = "auto";

/**
 * Checks a GPU choice as a JavaScript caller may pass it: undefined is {@link defaultGpu}, `false` is `"off"`, and
 * anything else outside {@link gpuNames} is an InvalidArgumentError (it used to fall back to the CPU silently).
 */
export function parseGpuOption(value: unknown): GpuName {
  if (value === undefined) return defaultGpu;
  if (value === false) return "off";
  if (typeof value === "string" && (gpuNames as readonly string[]).includes(value)) return value as GpuName;
  throw new InvalidArgumentError({
    argument: "gpu",
    message: `gpu must be one of ${gpuNames.map((name) => `"${name}"`).join(", ")} (default "${defaultGpu}"), got ${typeof value === "string" ? `"${value}"` : String(value)}`,
  });
}

/** A llama.cpp build the addon can load: a folder holding libllama and its ggml backends. */
export interface LlamaLibrary {
  /** Folder with `libllama*.so` / `.dylib`. */
  readonly dir: string;
  /** What the build targets. */
  readonly flavour: "cpu" | "cuda" | "vulkan" | "metal" | "custom";
}

const require = createRequire(import.meta.url);

/** node-llama-cpp's prebuilt packages, per platform and flavour (all built from the release this project pins). */
function prebuiltName(flavour: "cpu" | "cuda" | "vulkan" | "metal"): string | undefined {
  const platform = `${process.platform}-${process.arch}`;
  const table: Record<string, Partial<Record<typeof flavour, string>>> = {
    "linux-x64": { cpu: "linux-x64", cuda: "linux-x64-cuda", vulkan: "linux-x64-vulkan" },
    "linux-arm64": { cpu: "linux-arm64" },
    "darwin-arm64": { metal: "mac-arm64-metal", cpu: "mac-arm64-metal" },
    "darwin-x64": { cpu: "mac-x64" },
  };
  return table[platform]?.[flavour];
}

function packageDir(name: string): string | undefined {
  for (const base of require.resolve.paths(name) ?? []) {
    if (existsSync(join(base, name, "package.json"))) return join(base, name);
  }
  return undefined;
}

/** The bins folder of an installed prebuilt package, if it holds a libllama. */
export function prebuiltLibrary(flavour: "cpu" | "cuda" | "vulkan" | "metal"): LlamaLibrary | undefined {
  const name = prebuiltName(flavour);
  if (name === undefined) return undefined;
  const dir = packageDir(`@node-llama-cpp/${name}`);
  if (dir === undefined) return undefined;
  const bins = join(dir, "bins", name);
  if (!existsSync(bins) || !readdirSync(bins).some((file) => /^libllama[.\w]*\.(so|dylib)$/.test(file))) return undefined;
  return { dir: bins, flavour };
}

/** True when an NVIDIA driver is present (the CUDA build would find a device). */
function hasNvidiaDriver(): boolean {
  return existsSync("/proc/driver/nvidia/version") || existsSync("/dev/nvidiactl");
}

/**
 * Picks the llama.cpp build: `HYBRID_LLM_LIBRARY_DIR` (a source build) wins; otherwise node-llama-cpp's prebuilt
 * CUDA build when asked for (or, with `auto`, when an NVIDIA driver is present), Metal on Apple silicon, Vulkan only
 * when asked for, else the CPU build. Returns undefined when no suitable build is installed.
 */
export function chooseLibrary(option: GpuOption, libraryDir = process.env.HYBRID_LLM_LIBRARY_DIR): LlamaLibrary | undefined {
  const gpu = parseGpuOption(option);
  if (libraryDir) return { dir: libraryDir, flavour: "custom" };
  if (gpu === "cuda" || gpu === "vulkan" || gpu === "metal") return prebuiltLibrary(gpu);
  if (gpu === "auto") {
    if (process.platform === "darwin" && process.arch === "arm64") return prebuiltLibrary("metal");
    if (hasNvidiaDriver()) return prebuiltLibrary("cuda") ?? prebuiltLibrary("cpu");
  }
  return prebuiltLibrary("cpu");
}
