import { NodeBackend } from "@hybrid-llm/node";
import { definePreemptionSuite } from "./conformance/preemption-suite.js";

definePreemptionSuite("node", () => NodeBackend.create({ gpu: false }));
