import type { EngineStats, FinishReason } from "@hybrid-llm/core";

const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Request counters and latency histograms, rendered with the engine's live numbers as Prometheus text. */
export class Metrics {
  private readonly finished = new Map<FinishReason | "rejected", number>();
  private readonly latency = { counts: new Array<number>(BUCKETS.length).fill(0), sum: 0, count: 0 };
  private readonly firstToken = { counts: new Array<number>(BUCKETS.length).fill(0), sum: 0, count: 0 };

  /** A request ended (or was refused before starting). */
  recordRequest(reason: FinishReason | "rejected", seconds?: number, firstTokenSeconds?: number): void {
    this.finished.set(reason, (this.finished.get(reason) ?? 0) + 1);
    if (seconds !== undefined) observe(this.latency, seconds);
    if (firstTokenSeconds !== undefined) observe(this.firstToken, firstTokenSeconds);
  }

  render(stats: EngineStats): string {
    const lines: string[] = [];
    const gauge = (name: string, help: string, value: number, labels = "") => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, `${name}${labels} ${value}`);
    };
    const counter = (name: string, help: string, value: number) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${value}`);
    };
    gauge("hybrid_llm_slots", "Parallel sequences (recurrent slots) of the context.", stats.slots);
    gauge("hybrid_llm_slots_busy", "Slots serving a request.", stats.slotsBusy);
    lines.push("# HELP hybrid_llm_pool_cells Attention KV cells of the shared pool, by state.", "# TYPE hybrid_llm_pool_cells gauge");
    lines.push(`hybrid_llm_pool_cells{state="used"} ${stats.poolCellsUsed}`);
    lines.push(`hybrid_llm_pool_cells{state="reserved"} ${stats.poolCellsReserved}`);
    lines.push(`hybrid_llm_pool_cells{state="free"} ${stats.poolCells - stats.poolCellsReserved}`);
    lines.push(`hybrid_llm_pool_cells{state="cached"} ${stats.poolCellsCached}`);
    gauge("hybrid_llm_slots_cached", "Slots holding a finished request's cells for reuse.", stats.slotsCached);
    gauge("hybrid_llm_queue_depth", "Requests waiting for a slot.", stats.queueDepth);
    gauge("hybrid_llm_up", "1 while the engine serves; 0 while it reopens a crashed backend or is out of service.", stats.state === "running" ? 1 : 0);
    counter("hybrid_llm_backend_restarts_total", "Times the backend was reopened after a crash.", stats.restarts);
    counter("hybrid_llm_preemptions_swap_total", "Requests preempted by swapping their state to host memory.", stats.preemption.swaps);
    counter("hybrid_llm_preemptions_recompute_total", "Requests preempted to be re-prefilled later.", stats.preemption.recomputes);
    counter("hybrid_llm_preemption_tokens_recomputed_total", "Tokens evaluated again by recomputes.", stats.preemption.tokensRecomputed);
    gauge("hybrid_llm_preempted_waiting", "Preempted requests waiting to resume.", stats.preemption.waiting);
    gauge("hybrid_llm_swap_bytes", "Host memory held by swapped-out requests.", stats.preemption.swapBytes);
    const cache = stats.cache;
    counter("hybrid_llm_prefix_cache_hits_total", "Requests that resumed from a cached prefix.", cache.hits);
    counter("hybrid_llm_prefix_cache_misses_total", "Requests that found nothing to resume from.", cache.misses);
    counter("hybrid_llm_prefix_cache_tokens_reused_total", "Prompt tokens served from the cache instead of evaluated.", cache.tokensReused);
    counter("hybrid_llm_prefix_cache_tokens_lost_total", "Prompt tokens whose attention cells were cached but had no recurrent state to resume from.", cache.tokensLost);
    counter("hybrid_llm_prefix_cache_evictions_total", "Cached prefixes dropped to make room.", cache.prefixEvictions);
    gauge("hybrid_llm_checkpoints", "Recurrent checkpoints held in host memory.", cache.checkpoints);
    gauge("hybrid_llm_checkpoint_bytes", "Bytes of the recurrent checkpoints held.", cache.checkpointBytes);
    gauge("hybrid_llm_checkpoint_budget_bytes", "Most bytes the checkpoints may hold.", cache.checkpointBudgetBytes);
    counter("hybrid_llm_checkpoint_evictions_total", "Checkpoints evicted to stay within the budget.", cache.checkpointEvictions);
    counter("hybrid_llm_tokens_generated_total", "Tokens generated.", stats.tokensGenerated);
    counter("hybrid_llm_prompt_tokens_total", "Prompt tokens evaluated.", stats.promptTokensEvaluated);
    counter("hybrid_llm_steps_total", "Batches decoded.", stats.steps);
    counter("hybrid_llm_step_seconds_total", "Time spent in scheduler steps.", stats.stepMs / 1000);
    counter("hybrid_llm_decode_seconds_total", "Part of the step time spent in the backend's decode.", stats.decodeMs / 1000);
    lines.push("# HELP hybrid_llm_requests_total Requests by how they ended.", "# TYPE hybrid_llm_requests_total counter");
    for (const [reason, count] of this.finished) lines.push(`hybrid_llm_requests_total{reason="${reason}"} ${count}`);
    histogram(lines, "hybrid_llm_request_duration_seconds", "Time from request to its last token.", this.latency);
    histogram(lines, "hybrid_llm_time_to_first_token_seconds", "Time from request to its first token.", this.firstToken);
    return `${lines.join("\n")}\n`;
  }
}

function observe(h: { counts: number[]; sum: number; count: number }, seconds: number): void {
  h.sum += seconds;
  h.count++;
  BUCKETS.forEach((bound, i) => {
    if (seconds <= bound) h.counts[i]!++;
  });
}

function histogram(lines: string[], name: string, help: string, h: { counts: number[]; sum: number; count: number }): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
  BUCKETS.forEach((bound, i) => lines.push(`${name}_bucket{le="${bound}"} ${h.counts[i]}`));
  lines.push(`${name}_bucket{le="+Inf"} ${h.count}`, `${name}_sum ${h.sum}`, `${name}_count ${h.count}`);
}
