import { type CacheSpec, type DeviceCachePlan, type MemoryPlan, type VerifiedAllocation, formatBytes, planDeviceSplit } from "@hybrid-llm/core";
import type { RpcPlacement } from "@hybrid-llm/node";
import { count, renderTable } from "./table.js";

/** One device's share of the plan, with what llama.cpp allocated there when verified. */
export interface DeviceRow extends DeviceCachePlan {
  /** `host (CPU)`, `local GPU 0`, or the RPC server's `host:port`. */
  readonly name: string;
  /** llama.cpp's buffer type for it (`RPC0[host:port]`), when known. */
  readonly bufferType: string | undefined;
  /** Context bytes (KV + recurrent state) llama.cpp allocated in that buffer type (after --verify). */
  readonly allocatedContextBytes?: number;
}

/**
 * The plan per device for `plan --rpc`: devices are the local GPUs (weights beyond one per server come first, as
 * NodeBackend orders them) then one device per server (an rpc-server serves one device unless started with several).
 * Without --tensor-split the servers get equal weights (llama.cpp's own default splits by free memory).
 */
export function planDevices(spec: CacheSpec, plan: MemoryPlan, rpc: RpcPlacement, allocated?: VerifiedAllocation): DeviceRow[] {
  const weights = rpc.tensorSplit ?? rpc.servers.map(() => 1);
  const localGpus = Math.max(0, weights.length - rpc.servers.length);
  const name = (device: number) => (device < 0 ? "host (CPU)" : device < localGpus ? `local GPU ${device}` : rpc.servers[device - localGpus] ?? `device ${device}`);
  const bufferType = (device: number) => (device < 0 ? "CPU" : device < localGpus ? undefined : `RPC0[${rpc.servers[device - localGpus]}]`);
  return planDeviceSplit(spec, plan, { gpuLayers: -1, weights }).map((row) => {
    const type = bufferType(row.device);
    const found = allocated === undefined || type === undefined ? undefined : allocated.buffers.find((buffer) => buffer.bufferType === type);
    return {
      ...row,
      name: name(row.device),
      bufferType: type,
      ...(allocated === undefined || type === undefined ? {} : { allocatedContextBytes: found?.contextBytes ?? 0 }),
    };
  });
}

export function printDevices(print: (line: string) => void, rows: readonly DeviceRow[], rpc: RpcPlacement): void {
  print("");
  print(`per device (all layers offloaded, split ${rpc.tensorSplit === undefined ? "equal — assumed; llama.cpp's default splits by free memory" : rpc.tensorSplit.join(":")}):`);
  const verified = rows.some((row) => row.allocatedContextBytes !== undefined);
  const span = (layers: readonly number[]) => (layers.length === 0 ? "—" : `${layers[0]}–${layers.at(-1)} (${layers.length})`);
  const table: string[][] = [["device", "layers", "attention KV", "recurrent state", ...(verified ? ["allocated", ""] : [])]];
  for (const row of rows) {
    const planned = row.attentionKvBytes + row.recurrentStateBytes;
    const check = row.allocatedContextBytes === undefined ? ["—", ""] : [count(row.allocatedContextBytes), row.allocatedContextBytes === planned ? "✓" : `✗ planned ${count(planned)}`];
    table.push([row.name, span(row.layers), formatBytes(row.attentionKvBytes), formatBytes(row.recurrentStateBytes), ...(verified ? check : [])]);
  }
  print(renderTable(table, [2, 3, ...(verified ? [4] : [])]));
}
