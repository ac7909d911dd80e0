export {
  type AdmissionDecision,
  type AdmissionPlan,
  type CacheContext,
  CacheCoordinator,
  type CacheCoordinatorOptions,
  type CacheReuse,
  type CacheStats,
  type PlanOptions,
  type PrefixCacheOptions,
  type SwappedSequence,
} from "./cache-coordinator.js";
export { type PreemptionCandidate, type PreemptionChoiceInput, PreemptionCosts, type PreemptionMode, type PreemptionSetting, choosePreemption, chooseVictim } from "./preemption-policy.js";
export type { AttentionCacheSpec, AttentionLayerSpec, CacheSpec, RecurrentCacheSpec, RecurrentFamily } from "./cache-spec.js";
export { CellPool } from "./cell-pool.js";
export { CheckpointStore, checkpointBytes, defaultCheckpointBudgetBytes, defaultCheckpointsPerSlot } from "./checkpoint-store.js";
export { type MatchCandidate, PrefixIndex, type PrefixMatch } from "./prefix-index.js";
export { type Session, type SessionGeometry, decodeSession, encodeSession, sessionFormatVersion } from "./session-file.js";
