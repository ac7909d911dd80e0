export {
  type AdmissionDecision,
  type AdmissionPlan,
  type CacheContext,
  CacheCoordinator,
  type CacheCoordinatorOptions,
  type CacheReuse,
  type CacheStats,
  type PrefixCacheOptions,
} from "./cache-coordinator.js";
export type { AttentionCacheSpec, AttentionLayerSpec, CacheSpec, RecurrentCacheSpec, RecurrentFamily } from "./cache-spec.js";
export { CellPool } from "./cell-pool.js";
export { CheckpointStore, checkpointBytes, defaultCheckpointBudgetBytes, defaultCheckpointsPerSlot } from "./checkpoint-store.js";
export { type MatchCandidate, PrefixIndex, type PrefixMatch } from "./prefix-index.js";
