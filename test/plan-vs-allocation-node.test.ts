import { NodeBackend } from "@hybrid-llm/node";
import { definePlanVsAllocation } from "./conformance/plan-vs-allocation.js";

definePlanVsAllocation("node", () => NodeBackend.create({ gpu: false }));
