import { WasmBackend } from "@hybrid-llm/wasm";
import { definePlanVsAllocation } from "./conformance/plan-vs-allocation.js";

// A smaller grid for the other families on Wasm: shared and per-slot streams, q8_0 with flash attention, f16 without.
definePlanVsAllocation("wasm", () => WasmBackend.create(), [
  { ctx: 1024, slots: 4, unified: true, kvType: "q8_0" },
  { ctx: 2048, slots: 4, unified: false, kvType: "f16", flashAttention: false },
], [
  // The sliding-window profile's window-sized SWA cache: shared and per-slot streams.
  { ctx: 4096, slots: 4, unified: true, kvType: "f16", swaFull: false },
  { ctx: 8192, slots: 4, unified: false, kvType: "f16", flashAttention: false, ubatch: 64, swaFull: false },
]);
