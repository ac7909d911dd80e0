import { WasmBackend } from "@hybrid-llm/wasm";
import { defineServerOpenAiSuite } from "./conformance/server-openai-suite.js";

defineServerOpenAiSuite("wasm", () => WasmBackend.create());
