/**
 * Preemption: what to do when the next step needs KV cells the shared pool no longer has. Requests are admitted on
 * what they need now (prompt plus a small decode headroom), not on the most they could ever write, and grow as they
 * generate; when the pool runs dry the engine first drops cached prefixes, then preempts a running request:
 *
 * * **whom** — the latest arrival ({@link chooseVictim}). The oldest request always keeps running, so every request
 *   finishes; a preempted one goes back to the head of the queue, ahead of every request that arrived after it
 *   (no starvation), in arrival order. This is vLLM's and SGLang's order too.
 * * **how** — {@link choosePreemption}: **swap** (the sequence's whole state — attention cells and recurrent state —
 *   copied to host memory, restored later as it was) or **recompute** (dropped; later re-prefilled from the deepest
 *   cached prefix with a checkpoint, so only the part no cache holds is evaluated again). Swap costs the state's bytes
 *   twice (out and back) plus host memory under a budget; recompute costs prefill time. Both rates are measured as
 *   the engine runs ({@link PreemptionCosts}); the cheaper wins, recompute when the swap budget cannot hold the state.
 *
 * Either way the resumed request continues from exactly the state it would have had: a swapped one from its own
 * bytes, a recomputed one by evaluating its prompt and the tokens it generated (the token sampled last is evaluated
 * as usual by the next decode) — its output is the unpreempted one.
 *
 * Pure: no backend, no engine state; unit-tested on its own.
 */

/** How a preempted request is set aside. */
export type PreemptionMode = "swap" | "recompute";

/** The engine's choice between the two, or a fixed one (tests, and users who know their hardware). */
export type PreemptionSetting = PreemptionMode | "auto";

/** A running request that could be preempted. */
export interface PreemptionCandidate {
  /** Arrival order (the engine's request id): larger is later. */
  readonly arrival: number;
}

/**
 * The request to preempt among those running: the latest arrival (possibly the one that needs the room — then it is
 * the one to wait). Undefined when only one runs: the oldest request is never preempted, so it always finishes.
 */
export function chooseVictim<T extends PreemptionCandidate>(running: readonly T[]): T | undefined {
  if (running.length <= 1) return undefined;
  let victim = running[0]!;
  for (const candidate of running) if (candidate.arrival > victim.arrival) victim = candidate;
  return victim;
}

/** Rates measured while serving, kept as exponential moving averages. */
export class PreemptionCosts {
  private prefillMsPerToken: number | undefined;
  private stateMsPerByte: number | undefined;

  /** @param smoothing weight of each new sample (0..1]. */
  constructor(private readonly smoothing = 0.2) {}

  /** A step that evaluated `tokens` tokens in `ms` (decode rows and prefill rows alike: both are one batch). */
  recordPrefill(tokens: number, ms: number): void {
    if (tokens <= 0 || !(ms >= 0)) return;
    this.prefillMsPerToken = this.mix(this.prefillMsPerToken, ms / tokens);
  }

  /** A state read or write of `bytes` that took `ms` (checkpoint captures, swaps, restores). */
  recordStateCopy(bytes: number, ms: number): void {
    if (bytes <= 0 || !(ms >= 0)) return;
    this.stateMsPerByte = this.mix(this.stateMsPerByte, ms / bytes);
  }

  /** Milliseconds to evaluate `tokens` again; undefined before any step was measured. */
  recomputeMs(tokens: number): number | undefined {
    return this.prefillMsPerToken === undefined ? undefined : tokens * this.prefillMsPerToken;
  }

  /** Milliseconds to copy `bytes` out and back; undefined before any state copy was measured. */
  swapMs(bytes: number): number | undefined {
    return this.stateMsPerByte === undefined ? undefined : 2 * bytes * this.stateMsPerByte;
  }

  private mix(old: number | undefined, sample: number): number {
    return old === undefined ? sample : old + this.smoothing * (sample - old);
  }
}

/** What {@link choosePreemption} weighs for one victim. */
export interface PreemptionChoiceInput {
  readonly setting: PreemptionSetting;
  /** Bytes of the victim's whole sequence state (attention cells and recurrent state). */
  readonly stateBytes: number;
  /** Tokens a recompute would evaluate again (what no cached prefix with a checkpoint covers). */
  readonly recomputeTokens: number;
  /** Host memory left in the swap budget. */
  readonly swapBytesFree: number;
  readonly costs: PreemptionCosts;
}

/**
 * Swap or recompute. A swap that does not fit the budget is never chosen (even when asked for: the request is then
 * recomputed, which is always possible). With `auto`, the cheaper by the measured rates; unmeasured rates (a fresh
 * engine) favour swap, whose cost does not grow with the sequence's length as prefill's does.
 */
export function choosePreemption(input: PreemptionChoiceInput): PreemptionMode {
  if (input.stateBytes > input.swapBytesFree) return "recompute";
  if (input.setting !== "auto") return input.setting;
  if (input.recomputeTokens === 0) return "recompute";
  const swap = input.costs.swapMs(input.stateBytes);
  const recompute = input.costs.recomputeMs(input.recomputeTokens);
  if (swap === undefined || recompute === undefined) return "swap";
  return swap <= recompute ? "swap" : "recompute";
}
