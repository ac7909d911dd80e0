import { NodeBackend } from "@hybrid-llm/node";
import { defineBackendConformance } from "./conformance/backend-conformance.js";

defineBackendConformance("node", () => NodeBackend.create({ gpu: false }));
