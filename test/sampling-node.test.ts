import { NodeBackend } from "@hybrid-llm/node";
import { defineSamplingSuite } from "./conformance/sampling-suite.js";

defineSamplingSuite("node", () => NodeBackend.create({ gpu: false }));
