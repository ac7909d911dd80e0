import { NodeBackend } from "@hybrid-llm/node";
import { defineEngineSuite } from "./conformance/engine-suite.js";

defineEngineSuite("node", () => NodeBackend.create({ gpu: false }));
