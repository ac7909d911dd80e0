import { WasmBackend } from "@hybrid-llm/wasm";
import { defineBackendConformance } from "./conformance/backend-conformance.js";

defineBackendConformance("wasm", () => WasmBackend.create());
