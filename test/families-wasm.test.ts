import { WasmBackend } from "@hybrid-llm/wasm";
import { defineFamiliesSuite } from "./conformance/families-suite.js";

defineFamiliesSuite("wasm", () => WasmBackend.create());
