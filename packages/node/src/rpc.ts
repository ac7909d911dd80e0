import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { BackendError, InvalidArgumentError } from "@hybrid-llm/core";

/** Where the native build (native/build-rpc.mjs) puts llama.cpp's RPC backend, beside the addon. */
export const rpcLibraryPath = fileURLToPath(new URL("../build/libggml-rpc.so", import.meta.url));

/** Where the native build puts llama.cpp's rpc-server (a worker; `hybrid-llm rpc-server` starts it). */
export const rpcServerPath = fileURLToPath(new URL("../build/rpc-server", import.meta.url));

/** ggml-rpc's limit on servers per process (GGML_RPC_MAX_SERVERS). */
export const maxRpcServers = 16;

/** The largest split weight, exclusive (the addon's limit too). */
const maxSplitWeight = 1e9;

/** Layers on llama.cpp's RPC backend: the checked form of {@link NodeBackendOptions.rpcServers} and its split. */
export interface RpcPlacement {
  /** `host:port` of each worker, in split order. */
  readonly servers: readonly string[];
  /** One weight per device (local GPUs first, then each server's devices), or undefined for llama.cpp's default. */
  readonly tensorSplit: readonly number[] | undefined;
}

// ggml-rpc splits an endpoint at its first ':' and resolves the host with getaddrinfo: a host name or IPv4 address.
const hostPattern = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/** Checks one `host:port` as a JavaScript caller may pass it; returns it unchanged. */
export function parseRpcEndpoint(value: unknown, argument = "rpcServers"): string {
  const shown = typeof value === "string" ? `"${value}"` : String(value);
  if (typeof value !== "string") throw new InvalidArgumentError({ argument, message: `an RPC server is a "host:port" string, got ${shown}` });
  const colon = value.lastIndexOf(":");
  const host = value.slice(0, colon);
  const port = value.slice(colon + 1);
  if (colon <= 0 || !hostPattern.test(host)) {
    throw new InvalidArgumentError({ argument, message: `an RPC server is "host:port" with a host name or IPv4 address (no IPv6), got ${shown}` });
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    throw new InvalidArgumentError({ argument, message: `the port of an RPC server is an integer in [1, 65535], got ${shown}` });
  }
  return value;
}

/** Checks `rpcServers` and `tensorSplit`; undefined when no servers are given (then a split is refused). */
export function parseRpcPlacement(servers: unknown, tensorSplit: unknown): RpcPlacement | undefined {
  if (servers === undefined) {
    if (tensorSplit !== undefined) throw new InvalidArgumentError({ argument: "tensorSplit", message: "tensorSplit splits layers over rpcServers: give rpcServers too" });
    return undefined;
  }
  if (!Array.isArray(servers) || servers.length === 0 || servers.length > maxRpcServers) {
    throw new InvalidArgumentError({ argument: "rpcServers", message: `rpcServers must be a list of 1 to ${maxRpcServers} "host:port" strings` });
  }
  // Array.from visits holes (as undefined), which map and every skip: a sparse list must not reach the addon.
  const checked = Array.from(servers as unknown[], (server) => parseRpcEndpoint(server));
  const duplicate = checked.find((server, i) => checked.indexOf(server) !== i);
  if (duplicate !== undefined) throw new InvalidArgumentError({ argument: "rpcServers", message: `rpcServers lists ${duplicate} twice` });
  if (tensorSplit === undefined) return { servers: checked, tensorSplit: undefined };
  const weights = Array.isArray(tensorSplit) ? Array.from(tensorSplit as unknown[]) : [];
  if (
    weights.length === 0 ||
    weights.length > maxRpcServers ||
    // Below maxSplitWeight: llama.cpp sums the weights as floats (and the addon refuses larger ones).
    !weights.every((weight) => typeof weight === "number" && Number.isFinite(weight) && weight >= 0 && weight < maxSplitWeight) ||
    // Not all 0 as the addon's floats see them (1e-50 is 0 there, and an all-0 split is llama.cpp's default one).
    !weights.some((weight) => Math.fround(weight as number) > 0)
  ) {
    throw new InvalidArgumentError({ argument: "tensorSplit", message: `tensorSplit must be a list of weights in [0, ${maxSplitWeight}) (one per device, not all 0)` });
  }
  // Each server lends at least one device, so a shorter split can never match (llama.cpp would refuse it at load).
  if (weights.length < checked.length) {
    throw new InvalidArgumentError({
      argument: "tensorSplit",
      message: `tensorSplit has ${weights.length} weights for ${checked.length} servers: one per device (local GPUs, then each server's devices)`,
    });
  }
  return { servers: checked, tensorSplit: weights as number[] };
}

/** The built RPC backend, or a BackendError saying how to build it. */
export function rpcLibrary(): string {
  if (!existsSync(rpcLibraryPath)) {
    throw new BackendError({
      code: "unavailable",
      message: `llama.cpp's RPC backend is not built (${rpcLibraryPath}); run "node native/build.mjs" (needs a C++17 compiler)`,
    });
  }
  return rpcLibraryPath;
}
