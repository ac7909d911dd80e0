import { WasmBackend } from "@hybrid-llm/wasm";
import { defineSlidingWindowSuite } from "./conformance/sliding-window-suite.js";

defineSlidingWindowSuite("wasm", () => WasmBackend.create());
