import { NodeBackend } from "@hybrid-llm/node";
import { defineFamiliesSuite } from "./conformance/families-suite.js";

defineFamiliesSuite("node", () => NodeBackend.create({ gpu: false }));
