import { WasmBackend } from "@hybrid-llm/wasm";
import { definePlanVsAllocation } from "./conformance/plan-vs-allocation.js";

definePlanVsAllocation("wasm", () => WasmBackend.create());
