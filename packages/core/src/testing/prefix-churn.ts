import type { BackendContext } from "../backend/backend-context.js";
import type { BackendModel } from "../backend/backend-model.js";
import type { PrefixCacheOptions } from "../cache/cache-coordinator.js";
import { Engine, type EngineStats } from "../engine/engine.js";
import { SeededRandom } from "../fixtures/random.js";

/** Options of {@link runPrefixChurn}. */
export interface PrefixChurnOptions {
  readonly model: BackendModel;
  /** The context under test (its slots and pool size decide how often cached prefixes are evicted). */
  readonly context: BackendContext;
  /** A one-slot context of the same model for the cold reference runs. */
  readonly referenceContext: BackendContext;
  readonly prefixCache?: PrefixCacheOptions;
  /** Requests in all. Defaults to 60. */
  readonly requests?: number;
  /** Requests submitted together. Defaults to 6. */
  readonly concurrency?: number;
  /** Tokens of each shared "system prompt". Defaults to 80. */
  readonly systemTokens?: number;
  /** Token ids are drawn from [low, high). Defaults to the whole vocabulary past id 4. */
  readonly tokenRange?: readonly [number, number];
  /** Most tokens a request generates. Defaults to 8. */
  readonly maxTokens?: number;
  /** Reference margins below this end the comparison of a stream (ties may flip on real kernels). Defaults to 0. */
  readonly tolerance?: number;
  readonly seed?: number;
}

/** What {@link runPrefixChurn} observed. */
export interface PrefixChurnReport {
  readonly requests: number;
  readonly completed: number;
  readonly cancelled: number;
  /** Requests that resumed from the cache, and the prompt tokens they did not evaluate. */
  readonly hits: number;
  readonly cachedTokens: number;
  /** Generated tokens compared with the cold runs, and the requests whose tokens differed (index, step). */
  readonly compared: number;
  readonly mismatches: readonly { readonly request: number; readonly step: number }[];
  /** The engine's numbers once everything ended, before clearing the cache, and after. */
  readonly idle: EngineStats;
  readonly cleared: EngineStats;
}

/**
 * A randomized workload for the prefix cache: requests sharing system prompts, branching from each other, and
 * continuing earlier ones with their own output (multi-turn), some cancelled while queued, prefilling or
 * generating. Every request's tokens are compared with a cold run of the same prompt on a fresh one-slot engine
 * without the cache. Deterministic for a seed.
 */
export async function runPrefixChurn(options: PrefixChurnOptions): Promise<PrefixChurnReport> {
  const { model, context } = options;
  const random = new SeededRandom(options.seed ?? 1);
  const [low, high] = options.tokenRange ?? [4, model.info.vocabSize];
  const int = (n: number) => random.nextUint32() % n;
  const tokens = (n: number) => Array.from({ length: n }, () => low + int(high - low));
  const systems = [tokens(options.systemTokens ?? 80), tokens(options.systemTokens ?? 80), tokens(Math.ceil((options.systemTokens ?? 80) / 2))];
  const maxTokens = options.maxTokens ?? 8;
  const engine = new Engine({ model, context, maxQueue: 1024, ...(options.prefixCache ? { prefixCache: options.prefixCache } : {}) });

  interface Done {
    prompt: Int32Array;
    tokens: number[];
    margins: number[];
    reason: string;
    cached: number;
  }
  const done: Done[] = [];
  const total = options.requests ?? 60;
  const concurrency = options.concurrency ?? 6;
  for (let wave = 0; wave < total; wave += concurrency) {
    const runs: Promise<Done>[] = [];
    for (let i = wave; i < Math.min(total, wave + concurrency); i++) {
      // A new conversation on a shared system prompt, a branch of an earlier prompt, or its next turn.
      const earlier = done.length > 0 ? done[int(done.length)]! : undefined;
      const kind = earlier === undefined ? 0 : int(3);
      let prompt: number[];
      if (kind === 0) prompt = [...systems[int(systems.length)]!, ...tokens(1 + int(40))];
      else if (kind === 1) prompt = [...earlier!.prompt.slice(0, 1 + int(earlier!.prompt.length)), ...tokens(1 + int(20))];
      else prompt = [...earlier!.prompt, ...earlier!.tokens, ...tokens(1 + int(20))];
      const cancel = int(5) === 0 ? new AbortController() : undefined;
      const cancelAfter = cancel !== undefined ? int(4) : -1; // 0: while queued or prefilling, n: after n tokens
      runs.push(
        (async () => {
          const result: Done = { prompt: Int32Array.from(prompt), tokens: [], margins: [], reason: "", cached: 0 };
          const stream = engine.generate({ prompt: result.prompt, maxTokens: 1 + int(maxTokens), temperature: 0, ...(cancel ? { signal: cancel.signal } : {}) });
          if (cancelAfter === 0) queueMicrotask(() => cancel!.abort());
          for await (const part of stream) {
            if (part.type === "token") {
              result.tokens.push(part.token);
              result.margins.push(part.margin);
              if (result.tokens.length === cancelAfter) {
                if (int(2) === 0) cancel!.abort();
                else break; // leaving the loop cancels too
              }
            }
            if (part.type === "start") result.cached = part.cachedTokens;
            if (part.type === "finish") result.reason = part.reason;
          }
          if (result.reason === "") result.reason = "cancelled";
          return result;
        })(),
      );
    }
    done.push(...(await Promise.all(runs)));
  }
  await engine.idle();
  const idle = engine.stats();
  engine.clearCache();
  const cleared = engine.stats();
  await engine.dispose();

  // Cold runs: each prompt alone on a fresh one-slot engine without the cache.
  const reference = new Engine({ model, context: options.referenceContext, prefixCache: false });
  const mismatches: { request: number; step: number }[] = [];
  let compared = 0;
  for (const [i, run] of done.entries()) {
    if (run.tokens.length === 0) continue;
    const cold = { tokens: [] as number[], margins: [] as number[] };
    for await (const part of reference.generate({ prompt: run.prompt, maxTokens: run.tokens.length, temperature: 0 })) {
      if (part.type === "token") {
        cold.tokens.push(part.token);
        cold.margins.push(part.margin);
      }
    }
    for (let step = 0; step < run.tokens.length; step++) {
      if (cold.tokens[step] !== run.tokens[step]) {
        mismatches.push({ request: i, step });
        break;
      }
      compared++;
      if (cold.margins[step]! < (options.tolerance ?? 0)) break;
    }
  }
  await reference.dispose();
  return {
    requests: done.length,
    completed: done.filter((d) => d.reason === "stop" || d.reason === "length").length,
    cancelled: done.filter((d) => d.reason === "cancelled").length,
    hits: done.filter((d) => d.cached > 0).length,
    cachedTokens: done.reduce((n, d) => n + d.cached, 0),
    compared,
    mismatches,
    idle,
    cleared,
  };
}
