import { WasmBackend } from "@hybrid-llm/wasm";
import { definePrefixCacheSuite } from "./conformance/prefix-cache-suite.js";

definePrefixCacheSuite("wasm", () => WasmBackend.create());
