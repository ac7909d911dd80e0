import { WasmBackend } from "@hybrid-llm/wasm";
import { definePrefixCacheSuite } from "./conformance/prefix-cache-suite.js";

// Wasm runs the twin ~4x slower than native: a shorter churn, same checks.
definePrefixCacheSuite("wasm", () => WasmBackend.create(), { churnRequests: 12 });
