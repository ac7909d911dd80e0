/**
 * @hybrid-llm/node — the native backend: llama.cpp through hybrid-llm's Node-API addon.
 *
 * @packageDocumentation
 * @module @hybrid-llm/node
 */
export { addonPath } from "./addon.js";
export { type GpuName, type GpuOption, type LlamaLibrary, chooseLibrary, defaultGpu, gpuNames, parseGpuOption, prebuiltLibrary } from "./library.js";
export { NodeBackend, type NodeBackendOptions } from "./node-backend.js";
export { type RpcWorker, type RpcWorkerOptions, startRpcWorker } from "./rpc-worker.js";
export { type RpcPlacement, maxRpcServers, parseRpcEndpoint, parseRpcPlacement, rpcLibraryPath, rpcServerPath } from "./rpc.js";
