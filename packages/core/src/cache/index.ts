export { type AdmissionPlan, CacheCoordinator } from "./cache-coordinator.js";
export type { AttentionCacheSpec, AttentionLayerSpec, CacheSpec, RecurrentCacheSpec, RecurrentFamily } from "./cache-spec.js";
export { CellPool } from "./cell-pool.js";
export { RecurrentSlots } from "./recurrent-slots.js";
