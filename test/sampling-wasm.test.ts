import { WasmBackend } from "@hybrid-llm/wasm";
import { defineSamplingSuite } from "./conformance/sampling-suite.js";

defineSamplingSuite("wasm", () => WasmBackend.create(), () => WasmBackend.create({ threads: 2 }));
