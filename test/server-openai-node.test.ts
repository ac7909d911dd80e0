import { NodeBackend } from "@hybrid-llm/node";
import { defineServerOpenAiSuite } from "./conformance/server-openai-suite.js";

defineServerOpenAiSuite("node", () => NodeBackend.create({ gpu: false }));
