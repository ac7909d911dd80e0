/**
 * @hybrid-llm/core/testing — test doubles: {@link MockBackend}, a pure-TypeScript backend with llama.cpp's cache
 * rules, for fast tests of code above the backend interface.
 *
 * @packageDocumentation
 */
export { MockBackend, type MockBackendOptions } from "./mock-backend.js";
export { type PrefixChurnOptions, type PrefixChurnReport, runPrefixChurn } from "./prefix-churn.js";
export { type FaultPlan, type FaultPoint, withFaults } from "./fault-injection.js";
export { mutateGguf } from "./gguf-mutations.js";
