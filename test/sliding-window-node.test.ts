import { NodeBackend } from "@hybrid-llm/node";
import { defineSlidingWindowSuite } from "./conformance/sliding-window-suite.js";

defineSlidingWindowSuite("node", () => NodeBackend.create({ gpu: false }));
