import { WasmBackend } from "@hybrid-llm/wasm";
import { definePreemptionSuite } from "./conformance/preemption-suite.js";

definePreemptionSuite("wasm", () => WasmBackend.create(), { requests: 3, maxTokens: 80, ctx: 256 });
