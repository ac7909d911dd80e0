import { WasmBackend } from "@hybrid-llm/wasm";
import { defineEngineSuite } from "./conformance/engine-suite.js";

defineEngineSuite("wasm", () => WasmBackend.create());
