export { type ContextPlan, planContext } from "./context-plan.js";
export { type FitOptions, type FitResult, fitContextToBudget, fitSlotsToBudget, planTotalBytes } from "./fit-budget.js";
export { type KvCacheType, isKvCacheType, kvCacheTypes } from "./kv-cache-type.js";
export { CTX_PAD, MAX_CTX, MAX_SLOTS, type LayerCacheBytes, type MemoryPlan, type MemoryPlanOptions, type ResolvedPlanOptions, planLayerCacheBytes, planMemory } from "./memory-plan.js";
export { type DeviceCachePlan, type DeviceSplitOptions, layerDevices, planDeviceSplit } from "./device-split.js";
export { weightsBytesOf } from "./model-plan.js";
export { type ModelPreset, modelPreset, modelPresets } from "./presets.js";
export { formatBytes, parseByteSize } from "./units.js";
export { type VerifiedAllocation, verifyPlan } from "./verify-plan.js";
