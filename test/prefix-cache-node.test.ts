import { NodeBackend } from "@hybrid-llm/node";
import { definePrefixCacheSuite } from "./conformance/prefix-cache-suite.js";

definePrefixCacheSuite("node", () => NodeBackend.create({ gpu: false }));
